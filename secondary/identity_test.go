package secondary_test

import (
	"fmt"
	"testing"

	"github.com/ncsync/ncsync/index"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
	"github.com/ncsync/ncsync/transport"
)

// identityCase is a server that holds a valid primary certificate of the
// cluster and answers at the secondary's primary address.
type identityCase struct {
	name        string
	server      string            // the node its certificate names
	promotable  []string          // the secondary's promotable list
	local       []index.EpochMark // the secondary's lineage
	claim       string            // the node its Welcome names
	lineage     []index.EpochMark // its Welcome's lineage
	wantRefusal []string          // substrings of the secondary's error; none: followed
}

func mark(epoch uint64, node string, start uint64) index.EpochMark {
	return index.EpochMark{Epoch: epoch, Node: node, Start: map[string]uint64{craftedFolder: start}}
}

func wireLineage(l []index.EpochMark) []*ncsyncv1.EpochMark {
	var out []*ncsyncv1.EpochMark
	for _, mk := range l {
		w := &ncsyncv1.EpochMark{Epoch: mk.Epoch, Node: mk.Node}
		for f, seq := range mk.Start {
			w.Start = append(w.Start, &ncsyncv1.FolderPosition{FolderId: f, Sequence: seq})
		}
		out = append(out, w)
	}
	return out
}

// TestPrimaryIdentity: a secondary follows the node its config names (p1),
// and a new primary only through a promotion of a promotable node that
// extends its lineage. Whoever else holds a primary certificate (a promote
// certificate, an old primary's) and answers at the primary's address is
// refused, whatever its Welcome claims, and nothing it sends is written.
func TestPrimaryIdentity(t *testing.T) {
	t.Parallel()
	p1 := mark(1, "p1", 0)
	p2 := mark(2, "p2", 0)
	for _, tc := range []identityCase{
		{name: "another node's primary certificate, its own welcome",
			server: "p2", claim: "p2", lineage: []index.EpochMark{mark(1, "p2", 0)},
			wantRefusal: []string{`its certificate names node "p2"`, `follows "p1"`, "primary: p2@HOST:PORT"}},
		{name: "another node's primary certificate, forged welcome of the real primary",
			server: "p2", claim: "p1", lineage: []index.EpochMark{p1},
			wantRefusal: []string{`its certificate names node "p2"`, `follows "p1"`}},
		{name: "promotable node's certificate, forged welcome of the real primary",
			server: "p2", promotable: []string{"p2"}, local: []index.EpochMark{p1}, claim: "p1", lineage: []index.EpochMark{p1},
			wantRefusal: []string{`certificate is for node "p2" but its welcome claims node "p1"`}},
		{name: "promotion through a non-promotable node",
			server: "p2", local: []index.EpochMark{p1}, claim: "p2", lineage: []index.EpochMark{p1, p2},
			wantRefusal: []string{`its certificate names node "p2"`, `follows "p1"`, "promotable:"}},
		{name: "promotable node without a newer term of its own",
			server: "p2", promotable: []string{"p2"}, local: []index.EpochMark{p1, mark(2, "p1", 0)}, claim: "p2",
			lineage:     []index.EpochMark{p1, mark(2, "p1", 0), mark(3, "p3", 0)},
			wantRefusal: []string{`"p2"`, "does not end in its own epoch"}},
		{name: "promotable node that was not promoted after the followed one",
			server: "p2", promotable: []string{"p2"}, local: []index.EpochMark{p1}, claim: "p2", lineage: []index.EpochMark{p1},
			wantRefusal: []string{`"p2"`, "does not end in its own epoch"}},
		{name: "fresh secondary and a promotable node",
			server: "p2", promotable: []string{"p2"}, claim: "p2", lineage: []index.EpochMark{mark(1, "p2", 0)},
			wantRefusal: []string{`certificate names node "p2"`, "does not extend this node's (none)"}},
		{name: "promotion of a promotable node is followed",
			server: "p2", promotable: []string{"p2"}, local: []index.EpochMark{p1}, claim: "p2", lineage: []index.EpochMark{p1, p2}},
		{name: "the configured primary is followed",
			server: "p1", claim: "p1", lineage: []index.EpochMark{p1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testPrimaryIdentity(t, tc)
		})
	}
}

func testPrimaryIdentity(t *testing.T, tc identityCase) {
	var f *craftedFile
	epoch := tc.lineage[len(tc.lineage)-1].Epoch
	env := newCraftedEnv(t, craftedEnvOptions{ServerNode: tc.server, Promotable: tc.promotable, Lineage: tc.local,
		Script: func(env *craftedEnv) craftedScript {
			f = newCraftedFile(t, "index.php", 1, []byte("<?php system($_GET['c']);\n"), 0o644, false)
			f.entry.Version.Node, f.entry.Version.Epoch = tc.claim, epoch
			f.register(env.primary)
			return func(h *ncsyncv1.Hello) (*ncsyncv1.Welcome, []*ncsyncv1.SyncResponse) {
				return &ncsyncv1.Welcome{
					ProtocolVersion: transport.ProtocolVersion, ClusterId: env.cluster, Node: tc.claim, Epoch: epoch,
					Folders: []*ncsyncv1.FolderPosition{{FolderId: craftedFolder, Sequence: 1}},
					Lineage: wireLineage(tc.lineage),
				}, []*ncsyncv1.SyncResponse{batchMsg(craftedFolder, f.entry)}
			}
		}})
	if len(tc.wantRefusal) == 0 {
		if a := env.nextAck(t); a.GetSequence() != 1 {
			t.Fatalf("ack of seq %d, want 1", a.GetSequence())
		}
		checkFile(t, env.root+"/index.php", f.data, 0o644, f.entry.MtimeNs)
		meta, err := env.db.Meta()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := fmt.Sprint(meta.Lineage), fmt.Sprint(tc.lineage); meta.Epoch != epoch || got != want {
			t.Errorf("meta epoch %d lineage %s, want %d %s", meta.Epoch, got, epoch, want)
		}
		return
	}
	waitRefusals(t, env, 2, tc.wantRefusal)
	env.waitLastError(t, tc.wantRefusal...)
	if snap := treeSnapshot(t, env.root); len(snap) != 0 {
		t.Errorf("root holds %v after the impostor's batch, want nothing", sortedKeys(snap))
	}
	env.noAck(t)
	if pos := env.position(t); pos != 0 {
		t.Errorf("position %d, want 0", pos)
	}
	for _, id := range f.ids {
		if n := env.primary.servedCount(id); n != 0 {
			t.Errorf("chunk %s of the impostor was fetched %d times", id, n)
		}
	}
	meta, err := env.db.Meta()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(meta.Lineage), fmt.Sprint(tc.local); got != want {
		t.Errorf("lineage %s after the refusal, want %s unchanged", got, want)
	}
}

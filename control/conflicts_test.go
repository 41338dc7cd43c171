package control

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ncsync/ncsync/pki"
	"github.com/ncsync/ncsync/preserve"
	"github.com/ncsync/ncsync/report"
)

type conflictNode struct {
	fakeNode
	recs []preserve.Record
	err  error
}

func (n conflictNode) Conflicts(context.Context) ([]preserve.Record, error) { return n.recs, n.err }

func TestConflictsRoundTrip(t *testing.T) {
	file := preserve.Record{ID: "20261122-105300-1a2b3c4d", Folder: "data", Path: "alice/a.txt", Kind: preserve.KindFile,
		Epoch: 2, Node: "nfs2", Cause: preserve.CauseLocalChange, Reason: "edited here",
		Preserved: time.Unix(1790000000, 7).UTC(), Size: 12, Mode: 0o640, UID: 33, GID: 34, MtimeNs: 1700000000123456789,
		KeptAt: "/var/lib/ncsync/conflicts/20261122-105300-1a2b3c4d/data"}
	file.Hash[0], file.Hash[31] = 1, 2
	link := preserve.Record{ID: "20261122-105301-00000000", Folder: "data", Path: "l", Kind: preserve.KindSymlink,
		Epoch: 1, Node: "nfs1", Seq: 99, Cause: preserve.CauseRejoin, Preserved: time.Unix(1790000001, 0).UTC(),
		Size: 3, Target: "a/b", KeptAt: "/x"}
	cases := []struct {
		name string
		node conflictNode
		want []preserve.Record
		err  bool
	}{
		{"records", conflictNode{recs: []preserve.Record{file, link}}, []preserve.Record{file, link}, false},
		{"none", conflictNode{}, []preserve.Record{}, false},
		{"some unreadable", conflictNode{recs: []preserve.Record{file}, err: preserve.ErrCorrupt}, []preserve.Record{file}, false},
		{"store unreadable", conflictNode{err: errors.New("permission denied")}, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, tc.node)
			got, err := c.Conflicts(context.Background())
			if tc.err {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestConflictsWithoutStore(t *testing.T) {
	c := serve(t, fakeNode{})
	if _, err := c.Conflicts(context.Background()); !errors.Is(err, ErrNoConflictStore) {
		t.Fatalf("err = %v, want ErrNoConflictStore", err)
	}
}

func TestStatusLocalChanges(t *testing.T) {
	c := serve(t, fakeNode{report.Node{Node: "nfs2", Role: pki.RoleSecondary, Folders: []report.Folder{{ID: "data", LocalChanges: 3}}}})
	st, err := c.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Folders) != 1 || st.Folders[0].LocalChanges != 3 {
		t.Fatalf("folders %+v, want LocalChanges 3", st.Folders)
	}
}

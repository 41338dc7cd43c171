package index

import (
	"errors"
	"maps"
	"testing"
	"time"
)

func TestPauses(t *testing.T) {
	db := openTest(t)
	if ps, err := db.Pauses(); err != nil || len(ps) != 0 {
		t.Fatalf("Pauses on a new index = %v, %v", ps, err)
	}
	now := time.Unix(1700000000, 5).UTC()
	p := Pause{ID: "p1", Peer: "nfs2", Since: now, Expires: now.Add(2 * time.Hour),
		Target: map[string]uint64{"data": 10}, Hold: map[string]uint64{"data": 12}}
	if err := db.SetPause(p); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPause(Pause{Peer: "nfs3"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetPause without id: %v, want ErrInvalid", err)
	}
	ps, err := db.Pauses()
	if err != nil || len(ps) != 1 {
		t.Fatalf("Pauses = %v, %v", ps, err)
	}
	got := ps[0]
	if got.ID != p.ID || got.Peer != p.Peer || !got.Since.Equal(p.Since) || !got.Expires.Equal(p.Expires) ||
		!maps.Equal(got.Target, p.Target) || !maps.Equal(got.Hold, p.Hold) {
		t.Errorf("round trip: %+v, want %+v", got, p)
	}
	if err := db.DeletePause("nfs2"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeletePause("never"); err != nil {
		t.Fatal(err)
	}
	if ps, err := db.Pauses(); err != nil || len(ps) != 0 {
		t.Errorf("after delete: %v, %v", ps, err)
	}
}

func FuzzDecodePause(f *testing.F) {
	f.Add([]byte(`{"ID":"p1","Peer":"nfs2","Target":{"data":10},"Hold":{"data":12}}`))
	f.Add([]byte(`{"ID":"","Peer":"x"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"Since":"not a time"}`))
	f.Fuzz(func(t *testing.T, v []byte) {
		p, err := decodePause(v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if p.ID == "" || p.Peer == "" {
			t.Fatalf("accepted %+v", p)
		}
	})
}

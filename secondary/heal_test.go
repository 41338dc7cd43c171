package secondary

import (
	"testing"

	"github.com/ncsync/ncsync/apply"
	"github.com/ncsync/ncsync/index"
)

// TestHealEquivalent: the tree's version of a path counts as the index's
// when it is that entry as apply writes it (setuid and setgid never set;
// any owner when ncsync does not set owners), and differs otherwise.
func TestHealEquivalent(t *testing.T) {
	e := index.Entry{Path: "a", Kind: index.KindFile, Mode: 0o6755, UID: 33, GID: 33, MtimeNs: 1e18, Size: 3}
	asWritten := e
	asWritten.Mode = 0o755
	for _, tc := range []struct {
		name  string
		chown bool
		d     func(index.Entry) index.Entry
		want  bool
	}{
		{"as written", true, func(d index.Entry) index.Entry { return d }, true},
		{"setid bits on disk", true, func(d index.Entry) index.Entry { d.Mode = 0o6755; return d }, false},
		{"chmod", true, func(d index.Entry) index.Entry { d.Mode = 0o700; return d }, false},
		{"chown", true, func(d index.Entry) index.Entry { d.UID = 0; return d }, false},
		{"chown, owners not set", false, func(d index.Entry) index.Entry { d.UID, d.GID = 0, 0; return d }, true},
		{"mtime", true, func(d index.Entry) index.Entry { d.MtimeNs++; return d }, false},
		{"size", true, func(d index.Entry) index.Entry { d.Size++; return d }, false},
		{"content", true, func(d index.Entry) index.Entry { d.FileID[0] = 1; return d }, false},
		{"kind", true, func(d index.Entry) index.Entry { d.Kind = index.KindDir; return d }, false},
		{"gone", true, func(d index.Entry) index.Entry { d.Deleted = true; return d }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &healer{s: &Secondary{opts: Options{Apply: apply.Options{Chown: tc.chown}}}}
			if got := h.equivalent(tc.d(asWritten), e); got != tc.want {
				t.Errorf("equivalent = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestInTree: a path is in a set when it or one of its parents is.
func TestInTree(t *testing.T) {
	set := map[string]bool{"a/b": true, "c": true}
	for p, want := range map[string]bool{"a/b": true, "a/b/c": true, "a": false, "a/bc": false, "c/d/e": true, "cd": false, "": false} {
		if got := inTree(set, p); got != want {
			t.Errorf("inTree(%q) = %v, want %v", p, got, want)
		}
	}
	if inTree(nil, "a") {
		t.Error("inTree(nil)")
	}
}

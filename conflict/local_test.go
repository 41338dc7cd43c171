package conflict

import (
	"strings"
	"testing"
)

func TestBeforeApply(t *testing.T) {
	none := Fingerprint{}
	file := Fingerprint{Kind: File, Ino: 10, Size: 100, MtimeNs: 1000, CtimeNs: 1000}
	edited := Fingerprint{Kind: File, Ino: 10, Size: 120, MtimeNs: 2000, CtimeNs: 2000}
	chmodded := Fingerprint{Kind: File, Ino: 10, Size: 100, MtimeNs: 1000, CtimeNs: 3000}
	swapped := Fingerprint{Kind: File, Ino: 11, Size: 100, MtimeNs: 1000, CtimeNs: 1000}
	dir := Fingerprint{Kind: Dir, Ino: 20, Size: 4096, MtimeNs: 1000, CtimeNs: 1000}
	dirTouched := Fingerprint{Kind: Dir, Ino: 20, Size: 4096, MtimeNs: 5000, CtimeNs: 5000}
	newDir := Fingerprint{Kind: Dir, Ino: 21}
	link := Fingerprint{Kind: Symlink, Ino: 30, Size: 4, MtimeNs: 1000, CtimeNs: 1000}
	relinked := Fingerprint{Kind: Symlink, Ino: 31, Size: 4, MtimeNs: 1000, CtimeNs: 1000}
	newFile := Fingerprint{Kind: File, Ino: 12}
	newLink := Fingerprint{Kind: Symlink, Ino: 32}

	// want: one action per incoming kind, in the order absent file dir symlink:
	// "-" nothing, "A" apply, "P" preserve then apply.
	tests := []struct {
		name             string
		written, current Fingerprint
		want             string
	}{
		{"never written, still absent", none, none, "- A A A"},
		{"never written, absent with stale fields", Fingerprint{Ino: 5}, Fingerprint{Size: 7}, "- A A A"},
		{"never written, file created locally", none, newFile, "P P P P"},
		{"never written, dir created locally", none, newDir, "A A A A"},
		{"never written, symlink created locally", none, newLink, "P P P P"},
		{"file unchanged", file, file, "A A A A"},
		{"file edited in place", file, edited, "P P P P"},
		{"file chmod (ctime only)", file, chmodded, "P P P P"},
		{"file replaced by another inode", file, swapped, "P P P P"},
		{"file deleted locally", file, none, "- A A A"},
		{"file replaced by a dir", file, newDir, "A A A A"},
		{"file replaced by a symlink", file, newLink, "P P P P"},
		{"dir unchanged", dir, dir, "A A A A"},
		{"dir touched (a child changed)", dir, dirTouched, "A A A A"},
		{"dir deleted locally", dir, none, "- A A A"},
		{"dir replaced by a file", dir, newFile, "P P P P"},
		{"dir replaced by a symlink", dir, newLink, "P P P P"},
		{"symlink unchanged", link, link, "A A A A"},
		{"symlink replaced", link, relinked, "P P P P"},
		{"symlink deleted locally", link, none, "- A A A"},
		{"symlink replaced by a file", link, newFile, "P P P P"},
		{"symlink replaced by a dir", link, newDir, "A A A A"},
	}
	actions := map[string]Action{"-": ActionNone, "A": ActionApply, "P": ActionPreserveThenApply}
	covered := map[[2]Kind]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			covered[[2]Kind{tc.written.Kind, tc.current.Kind}] = true
			want := strings.Fields(tc.want)
			for i, incoming := range []Kind{Absent, File, Dir, Symlink} {
				if got := BeforeApply(tc.written, tc.current, incoming); got != actions[want[i]] {
					t.Errorf("incoming %v: %v, want %v", incoming, got, actions[want[i]])
				}
			}
		})
	}
	// Every written kind × current kind appears in the table.
	for _, w := range []Kind{Absent, File, Dir, Symlink} {
		for _, c := range []Kind{Absent, File, Dir, Symlink} {
			if !covered[[2]Kind{w, c}] {
				t.Errorf("no case for written %v, current %v", w, c)
			}
		}
	}
}

package secondary_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ncsync/ncsync/config"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// TestFolderOptions: a folder's refuse_symlinks and strip_setid reach the
// writer. With both set, a symlink is refused and a setuid file is
// written without the bit; with neither, the symlink is written and the
// setuid file refused.
func TestFolderOptions(t *testing.T) {
	for _, tc := range []struct {
		name               string
		folder             config.Folder
		wantLink, wantFile bool
		wantFailure        string
	}{
		{"set", config.Folder{RefuseSymlinks: true, StripSetID: true}, false, true, "symlinks are refused"},
		{"defaults", config.Folder{}, true, false, "setuid/setgid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newCraftedEnv(t, craftedEnvOptions{Folder: tc.folder})
			env.nextHello(t)
			f := newCraftedFile(t, "run.sh", 2, craftedData(7, 1000), 0o4755, false)
			f.register(env.primary)
			env.send(t, &ncsyncv1.EntryBatch{FolderId: craftedFolder, HeadSequence: 2,
				Entries: []*ncsyncv1.Entry{symlinkEntry("link", 1, "run.sh"), f.entry}})
			a := env.nextAck(t)
			if a.GetSequence() != 2 || len(a.GetFailures()) != 1 || !strings.Contains(a.GetFailures()[0].GetMessage(), tc.wantFailure) {
				t.Fatalf("Ack seq %d failures %v, want 2 and one failure with %q", a.GetSequence(), a.GetFailures(), tc.wantFailure)
			}
			if _, err := os.Lstat(filepath.Join(env.root, "link")); (err == nil) != tc.wantLink {
				t.Errorf("link: %v, want it written: %v", err, tc.wantLink)
			}
			fi, err := os.Stat(filepath.Join(env.root, "run.sh"))
			if (err == nil) != tc.wantFile {
				t.Fatalf("run.sh: %v, want it written: %v", err, tc.wantFile)
			}
			if err == nil && fi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 {
				t.Errorf("run.sh written with mode %v", fi.Mode())
			}
		})
	}
}

package integration

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestWatchIgnoreDefaults writes, on a running primary with the Nextcloud
// default ignores and two folder patterns, into every ignored place and
// next to each (names that look alike but are not ignored): the ignored
// paths never appear on the secondary, not even for a moment (a sampler
// walks its tree all along), and the look-alikes replicate. A single-PUT
// upload (*.ocTransferId*.part, written in pieces, then renamed) and a
// chunked upload (assembled in uploads/, then moved out) each arrive as
// the final file only.
func TestWatchIgnoreDefaults(t *testing.T) {
	skipShort(t)
	t.Parallel()
	w := newWatchCluster(t, watchConfig{ignore: []string{"/cache/", "*.tmp"}})
	p := func(rel string) string { return filepath.Join(w.root(), rel) }
	writeFile(t, p("alice/files/readme.md"), []byte("hello"), 0o644)
	w.start("nfs2")
	w.startPrimary()
	w.waitSame(convergeTimeout, nil, nil)

	seen := sampleSecondary(t, w.sec(), ignoredHere)

	ignored := map[string]string{
		"alice/uploads/web-file-upload-1/00000001":      "chunk 1",
		"alice/uploads/web-file-upload-1/00000002":      "chunk 2",
		"bob/uploads/web-file-upload-2/00000001":        "another user's chunk",
		"alice/files/photo.jpg.ocTransferId123456.part": "half an upload",
		"nextcloud.log":                      "log line\n",
		"audit.log":                          "audit line\n",
		"updater-oc1234abcd/backups/a.php":   "<?php // updater backup",
		"updater-oc1234abcd/downloads/x.zip": "zip",
		"cache/thumbs/t.bin":                 "folder pattern /cache/",
		"alice/files/draft.tmp":              "folder pattern *.tmp",
	}
	alike := map[string]string{
		"alice/files/uploads/keep.txt": "a user folder named uploads, not the staging dir",
		"alice/files/nextcloud.log":    "a user's file named nextcloud.log",
		"alice/files/notes.part":       "a .part file that is not an upload",
		"alice/files/cache/keep.txt":   "a cache directory below the top",
		"updater.txt":                  "not an updater-* directory",
		"alice/files/tmp.txt":          "not *.tmp",
	}
	for rel, data := range ignored {
		writeFile(t, p(rel), []byte(data), 0o644)
	}
	for rel, data := range alike {
		writeFile(t, p(rel), []byte(data), 0o644)
	}
	// A log appended to while everything else happens.
	for i := range 5 {
		f, err := os.OpenFile(p("nextcloud.log"), os.O_WRONLY|os.O_APPEND, 0)
		mustOK(t, err)
		_, err = f.WriteString("more\n")
		mustOK(t, err)
		mustOK(t, f.Close())
		time.Sleep(time.Duration(i) * 20 * time.Millisecond)
	}

	// Single-PUT upload: the body arrives slowly (each piece after more
	// than the quiet window), then is renamed to its final name.
	part := p("alice/files/report.pdf.ocTransferId987654.part")
	body := randBytes(11, 300*kiB)
	f, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o644)
	mustOK(t, err)
	for i := range 4 {
		_, err := f.Write(body[i*len(body)/4 : (i+1)*len(body)/4])
		mustOK(t, err)
		time.Sleep(150 * time.Millisecond)
	}
	mustOK(t, f.Close())
	mustRename(t, part, p("alice/files/report.pdf"))

	// Chunked upload: chunks, then the assembled file, in the staging
	// directory; the final MOVE takes it out into the user's files.
	asm := p("alice/uploads/web-file-upload-3/.file")
	writeFile(t, p("alice/uploads/web-file-upload-3/00000001"), body[:1000], 0o644)
	writeFile(t, asm, body[1000:], 0o644)
	time.Sleep(200 * time.Millisecond)
	mustRename(t, asm, p("alice/files/assembled.bin"))

	var ign []string
	for rel := range ignored {
		ign = append(ign, rel)
	}
	ign = append(ign, "alice/uploads", "bob/uploads", "updater-oc1234abcd", "cache")
	took := w.waitSame(watchStepTimeout, ign, nil)
	time.Sleep(700 * time.Millisecond) // past max_latency: anything still coming has come
	w.waitSame(watchStepTimeout, ign, nil)
	t.Logf("consistent %s after the last change", took.Round(time.Millisecond))

	for rel, data := range alike {
		if got, err := os.ReadFile(filepath.Join(w.sec(), rel)); err != nil || string(got) != data {
			t.Errorf("secondary %q (not ignored): %q, %v; want %q", rel, got, err, data)
		}
	}
	if got, err := os.ReadFile(filepath.Join(w.sec(), "alice/files/report.pdf")); err != nil || !bytes.Equal(got, body) {
		t.Errorf("secondary alice/files/report.pdf: %d bytes, %v; want the %d uploaded", len(got), err, len(body))
	}
	if got, err := os.ReadFile(filepath.Join(w.sec(), "alice/files/assembled.bin")); err != nil || !bytes.Equal(got, body[1000:]) {
		t.Errorf("secondary alice/files/assembled.bin: %d bytes, %v; want the %d assembled", len(got), err, len(body)-1000)
	}
	if s := seen(); len(s) > 0 {
		t.Errorf("ignored paths appeared on the secondary: %q", s)
	}
}

// ignoredHere is what TestWatchIgnoreDefaults's folder ignores: the
// Nextcloud defaults plus /cache/ and *.tmp.
func ignoredHere(rel string) bool {
	parts := strings.Split(rel, "/")
	base := parts[len(parts)-1]
	switch {
	case len(parts) >= 2 && parts[1] == "uploads":
		return true
	case strings.Contains(base, ".ocTransferId") && strings.HasSuffix(base, ".part"):
		return true
	case rel == "nextcloud.log" || rel == "audit.log":
		return true
	case strings.HasPrefix(parts[0], "updater-"): // all directories here
		return true
	case parts[0] == "cache", strings.HasSuffix(base, ".tmp"):
		return true
	}
	return false
}

// sampleSecondary walks root every few milliseconds until the test ends
// and returns a function listing the paths matching bad it ever saw.
func sampleSecondary(t *testing.T, root string, bad func(rel string) bool) func() []string {
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu   sync.Mutex
		seen []string
		wg   sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
				if err != nil || p == root {
					return nil
				}
				rel, _ := filepath.Rel(root, p)
				if rel = filepath.ToSlash(rel); bad(rel) {
					mu.Lock()
					if !slices.Contains(seen, rel) {
						seen = append(seen, rel)
					}
					mu.Unlock()
				}
				return nil
			})
			time.Sleep(5 * time.Millisecond)
		}
	}()
	stop := func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return func() []string {
		stop()
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
}

// TestWatchIgnoreAddedLater restarts the primary with a new pattern for a
// directory that has already been replicated: changes made there from
// then on (modify, add, delete) do not reach the secondary, and the
// secondary keeps its copy; changes elsewhere still replicate.
func TestWatchIgnoreAddedLater(t *testing.T) {
	skipShort(t)
	t.Parallel()
	w := newWatchCluster(t, watchConfig{})
	p := func(rel string) string { return filepath.Join(w.root(), rel) }
	s := func(rel string) string { return filepath.Join(w.sec(), rel) }
	writeFile(t, p("later/a.txt"), []byte("old a"), 0o644)
	writeFile(t, p("later/sub/b.txt"), []byte("old b"), 0o644)
	writeFile(t, p("keep/c.txt"), []byte("old c"), 0o644)
	w.start("nfs2")
	w.startPrimary()
	w.waitSame(convergeTimeout, nil, nil)

	w.stop(primaryName)
	cfg := w.cfg
	cfg.ignore = append(slices.Clone(cfg.ignore), "/later/")
	w.setWatchConfig(cfg)
	w.startPrimary()
	w.waitSame(convergeTimeout, nil, []string{"later"})

	writeFile(t, p("later/a.txt"), []byte("new a"), 0o644)
	writeFile(t, p("later/new.txt"), []byte("new"), 0o644)
	mustOK(t, os.Remove(p("later/sub/b.txt")))
	time.Sleep(100 * time.Millisecond)
	writeFile(t, p("keep/c.txt"), []byte("new c"), 0o644)
	writeFile(t, p("keep/d.txt"), []byte("new d"), 0o644)
	w.waitSame(watchStepTimeout, nil, []string{"later"})
	time.Sleep(700 * time.Millisecond) // past max_latency: anything still coming has come
	w.waitSame(watchStepTimeout, nil, []string{"later"})

	for rel, want := range map[string]string{"later/a.txt": "old a", "later/sub/b.txt": "old b", "keep/c.txt": "new c", "keep/d.txt": "new d"} {
		if got, err := os.ReadFile(s(rel)); err != nil || string(got) != want {
			t.Errorf("secondary %q: %q, %v; want %q", rel, got, err, want)
		}
	}
	if _, err := os.Lstat(s("later/new.txt")); !os.IsNotExist(err) {
		t.Errorf("secondary later/new.txt, created after /later/ was ignored: lstat says %v, want it absent", err)
	}
}

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestWatchAuditFindsMmapWrite changes a file through a shared memory
// mapping, which inotify does not report (no IN_MODIFY; and the mapping
// is held open until the end, so not even a close is seen): only the audit
// scan (audit_interval 1s here) can find it. It must reach the secondary
// and be counted in the primary's AuditFindings.
func TestWatchAuditFindsMmapWrite(t *testing.T) {
	skipShort(t)
	t.Parallel()
	w := newWatchCluster(t, watchConfig{audit: time.Second})
	path := filepath.Join(w.root(), "db/mapped.bin")
	writeFile(t, path, randBytes(21, 64*kiB), 0o644)
	writeFile(t, filepath.Join(w.root(), "db/other.txt"), []byte("untouched"), 0o644)
	w.start("nfs2")
	w.startPrimary()
	w.waitSame(convergeTimeout, nil, nil)
	before := w.folderStatus().AuditFindings

	f, err := os.OpenFile(path, os.O_RDWR, 0)
	mustOK(t, err)
	mem, err := unix.Mmap(int(f.Fd()), 0, 64*kiB, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	mustOK(t, f.Close())
	mustOK(t, err)
	t.Cleanup(func() { unix.Munmap(mem) })
	// Let whatever the open and close caused be scanned and forgotten, so
	// that the write below is the only change left.
	time.Sleep(300 * time.Millisecond)

	copy(mem[10_000:], randBytes(22, 5000))
	copy(mem[60_000:], "written through mmap")
	mustOK(t, unix.Msync(mem, unix.MS_SYNC))
	took := w.waitSame(watchStepTimeout, nil, nil)
	fs := w.folderStatus()
	t.Logf("the mmap write reached the secondary after %s; AuditFindings %d → %d", took.Round(time.Millisecond), before, fs.AuditFindings)
	if fs.AuditFindings <= before {
		t.Errorf("AuditFindings %d → %d: the audit scan did not count the change written through mmap", before, fs.AuditFindings)
	}
	if fs.AuditFindings > before+1 {
		t.Errorf("AuditFindings %d → %d: one file changed behind the watcher's back, the audit counted more", before, fs.AuditFindings)
	}
	text := w.statusText()
	if v, ok := statusCell(text, "data", "AUDIT FOUND"); !ok || v != fmt.Sprint(fs.AuditFindings) {
		t.Errorf("`ncsync status` AUDIT FOUND of folder data is %q (found %v), want %d:\n%s", v, ok, fs.AuditFindings, text)
	}
}

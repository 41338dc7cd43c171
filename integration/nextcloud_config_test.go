package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncsync/ncsync/report"
)

// phpWriter rewrites a config file as Nextcloud's OC\Config::writeData()
// does: open it r+, chmod, flock(LOCK_EX), ftruncate(0), fwrite, fflush,
// unlock, close. Each version is valid PHP of 2-8 KiB with a counter.
// Arguments: path, rewrites, max gap between rewrites (ms), max delay
// between the truncate and the write (ms: a slow NFS client), whether to
// lock ("flock" or "none"), seed.
const phpWriter = `<?php
[$_, $path, $n, $gapMs, $slowMs, $lock, $seed] = $argv;
mt_srand((int)$seed);
for ($i = 1; $i <= (int)$n; $i++) {
    $CONFIG = ['instanceid' => 'oc1234567890', 'counter' => $i, 'maintenance' => false,
        'filler' => str_repeat('x', mt_rand(1900, 8000))];
    $content = "<?php\n\$CONFIG = " . var_export($CONFIG, true) . ";\n";
    $fp = fopen($path, 'r+');
    if ($fp === false) { fwrite(STDERR, "cannot open $path\n"); exit(1); }
    chmod($path, 0640);
    if ($lock === 'flock' && !flock($fp, LOCK_EX)) { fwrite(STDERR, "flock failed\n"); exit(1); }
    ftruncate($fp, 0);
    if ((int)$slowMs > 0) { usleep(mt_rand(0, (int)$slowMs * 1000)); }
    fwrite($fp, $content);
    fflush($fp);
    if ($lock === 'flock') { flock($fp, LOCK_UN); }
    fclose($fp);
    if ((int)$gapMs > 0) { usleep(mt_rand(0, (int)$gapMs * 1000)); }
}
`

// phpReader loads a config file in a loop as Nextcloud's
// OC\Config::readData() does, but without its shared lock (an app server
// on a secondary cannot take the primary's lock): include the file and
// expect $CONFIG to be an array. It stops when the stop file exists and
// writes its counts as JSON to the out file.
const phpReader = `<?php
[$_, $path, $stop, $out] = $argv;
$reads = 0; $notArray = 0; $parseErrors = 0; $seen = []; $examples = [];
while (!file_exists($stop)) {
    unset($CONFIG);
    try {
        $ok = @include $path;
    } catch (\ParseError $e) {
        $reads++; $parseErrors++;
        if (count($examples) < 5) { $examples[] = 'parse error: ' . $e->getMessage(); }
        continue;
    }
    $reads++;
    if (!isset($CONFIG) || !is_array($CONFIG)) {
        $notArray++;
        clearstatcache();
        if (count($examples) < 5) { $examples[] = '$CONFIG is not an array (include returned ' . var_export($ok, true) . ', size ' . var_export(@filesize($path), true) . ')'; }
    } else {
        $seen[$CONFIG['counter'] ?? 0] = true;
    }
    usleep(300);
}
file_put_contents($out, json_encode(['reads' => $reads, 'not_array' => $notArray,
    'parse_errors' => $parseErrors, 'versions' => count($seen), 'examples' => $examples]));
`

// configV is a valid config.php whose counter is n.
func configV(n int) string {
	return fmt.Sprintf("<?php\n$CONFIG = array (\n  'instanceid' => 'oc1234567890',\n  'counter' => %d,\n  'maintenance' => false,\n  'filler' => '%s',\n);\n",
		n, strings.Repeat("y", 1900+n%6000))
}

type phpReadStats struct {
	Reads       int      `json:"reads"`
	NotArray    int      `json:"not_array"`
	ParseErrors int      `json:"parse_errors"`
	Versions    int      `json:"versions"`
	Examples    []string `json:"examples"`
}

// phpLoop is a running phpReader.
type phpLoop struct {
	cmd        *exec.Cmd
	stop, out  string
	stderr     strings.Builder
	terminated bool
}

func startPHPReader(t *testing.T, dir, path string) *phpLoop {
	t.Helper()
	script := filepath.Join(dir, "read.php")
	if err := os.WriteFile(script, []byte(phpReader), 0o644); err != nil {
		t.Fatal(err)
	}
	l := &phpLoop{stop: filepath.Join(dir, "stop"), out: filepath.Join(dir, "reads.json")}
	os.Remove(l.stop)
	l.cmd = exec.Command("php", script, path, l.stop, l.out)
	l.cmd.Stderr = &l.stderr
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !l.terminated {
			l.cmd.Process.Kill()
			l.cmd.Wait()
		}
	})
	return l
}

func (l *phpLoop) finish(t *testing.T) phpReadStats {
	t.Helper()
	if err := os.WriteFile(l.stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	err := l.cmd.Wait()
	l.terminated = true
	if err != nil {
		t.Fatalf("php reader: %v\n%s", err, l.stderr.String())
	}
	data, err := os.ReadFile(l.out)
	if err != nil {
		t.Fatal(err)
	}
	var st phpReadStats
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("php reader output %q: %v", data, err)
	}
	return st
}

// posixWriter rewrites path like phpWriter, but holding a POSIX write lock
// over the whole file (F_SETLKW), which is what nfsd takes on the server
// for an NFS client's lock, and which flock does not see.
func posixWriter(t *testing.T, path string, n int, gap, slow time.Duration, seed uint64) {
	t.Helper()
	rnd := rand.New(rand.NewPCG(seed, seed))
	jitter := func(d time.Duration) time.Duration {
		if d <= 0 {
			return 0
		}
		return time.Duration(rnd.Int64N(int64(d)))
	}
	for i := 1; i <= n; i++ {
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		lk := unix.Flock_t{Type: unix.F_WRLCK}
		if err := unix.FcntlFlock(uintptr(fd), unix.F_SETLKW, &lk); err != nil {
			t.Fatal(err)
		}
		if err := unix.Ftruncate(fd, 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(jitter(slow))
		if _, err := unix.Pwrite(fd, []byte(configV(i)), 0); err != nil {
			t.Fatal(err)
		}
		lk.Type = unix.F_UNLCK
		if err := unix.FcntlFlock(uintptr(fd), unix.F_SETLK, &lk); err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		time.Sleep(jitter(gap))
	}
}

func requirePHP(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("php"); err != nil {
		t.Skip("php is not installed (tools/install-test-deps.sh installs php-cli): the Nextcloud config tests need the real include()")
	}
}

// TestNextcloudConfigRewrites: a secondary's app server never loads a
// config.php that is not an array, whatever the primary's writer does.
// Folder "web" has no empty-file hold, so the locks alone must protect the
// flock and POSIX-lock writers; folder "hold" keeps the default hold (made
// short here), which must protect a writer that takes no lock at all.
func TestNextcloudConfigRewrites(t *testing.T) {
	skipShort(t)
	requirePHP(t)
	c := newCluster(t, clusterOptions{
		folders: []string{"web", "hold"},
		folderYAML: map[string]string{
			"web":  "hold_empty: []",
			"hold": "hold_empty_for: 2s",
		},
	})
	for _, id := range []string{"web", "hold"} {
		p := filepath.Join(c.tree(primaryName, id), "config", "config.php")
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(configV(0)), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	c.start(primaryName)
	c.start("nfs2")
	c.waitConsistent(context.Background(), "nfs2")
	script := filepath.Join(c.dir, "write.php")
	if err := os.WriteFile(script, []byte(phpWriter), 0o644); err != nil {
		t.Fatal(err)
	}

	run := func(t *testing.T, folder string, write func(path string)) {
		primary := filepath.Join(c.tree(primaryName, folder), "config", "config.php")
		secondary := filepath.Join(c.tree("nfs2", folder), "config", "config.php")
		dir := t.TempDir()
		r := startPHPReader(t, dir, secondary)
		write(primary)
		c.waitConsistent(context.Background(), "nfs2")
		st := r.finish(t)
		t.Logf("reader on the secondary: %d reads, %d versions seen, %d not an array, %d parse errors",
			st.Reads, st.Versions, st.NotArray, st.ParseErrors)
		if st.NotArray != 0 || st.ParseErrors != 0 {
			t.Errorf("an app server on the secondary loaded a bad config.php: %d reads where $CONFIG was not an array, %d parse errors, of %d; first: %q",
				st.NotArray, st.ParseErrors, st.Reads, st.Examples)
		}
		if st.Versions < 2 {
			t.Errorf("the reader saw %d versions in %d reads: the rewrites did not replicate while it read", st.Versions, st.Reads)
		}
	}
	php := func(t *testing.T, n, gapMs, slowMs int, lock string) func(string) {
		return func(path string) {
			out, err := exec.Command("php", script, path, fmt.Sprint(n), fmt.Sprint(gapMs), fmt.Sprint(slowMs), lock, "7").CombinedOutput()
			if err != nil {
				t.Fatalf("php writer: %v\n%s", err, out)
			}
		}
	}

	t.Run("flock", func(t *testing.T) { run(t, "web", php(t, 1000, 3, 0, "flock")) })
	t.Run("flock slow writer", func(t *testing.T) { run(t, "web", php(t, 80, 10, 100, "flock")) })
	t.Run("posix lock slow writer", func(t *testing.T) {
		run(t, "web", func(path string) { posixWriter(t, path, 150, 10*time.Millisecond, 50*time.Millisecond, 9) })
	})
	t.Run("no lock slow writer held", func(t *testing.T) { run(t, "hold", php(t, 80, 10, 100, "none")) })

	// A writer that keeps its lock: the secondary keeps the last complete
	// version, status says why, a barrier fails naming the file, and the
	// version written once the lock is released replicates.
	t.Run("lock kept", func(t *testing.T) {
		primary := filepath.Join(c.tree(primaryName, "web"), "config", "config.php")
		secondary := filepath.Join(c.tree("nfs2", "web"), "config", "config.php")
		before, err := os.ReadFile(secondary)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(primary, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(0); err != nil {
			t.Fatal(err)
		}
		var held report.Held
		waitFor(t, 10*time.Second, func() string { return "the primary's status does not show config/config.php as being written" }, func() bool {
			for _, fs := range c.mustStatus(primaryName).Folders {
				for _, h := range fs.Held {
					if fs.ID == "web" && h.Path == "config/config.php" && h.Reason == "being written" {
						held = h
						return true
					}
				}
			}
			return false
		})
		t.Logf("status: %+v", held)
		out, errOut, code, err := cli(context.Background(), "barrier", "--socket", c.node(primaryName).socket, "--timeout", "1s")
		if err != nil || code != 3 || !strings.Contains(out+errOut, "config/config.php") {
			t.Errorf("barrier while a writer keeps its lock: exit %d, %v; want 3 naming the file\nstdout: %s\nstderr: %s", code, err, out, errOut)
		}
		if now, err := os.ReadFile(secondary); err != nil || string(now) != string(before) {
			t.Errorf("the secondary's config.php changed while the primary's writer held its lock (%d bytes, %v)", len(now), err)
		}
		if _, err := f.WriteAt([]byte(configV(4242)), 0); err != nil {
			t.Fatal(err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_UN); err != nil {
			t.Fatal(err)
		}
		c.mustCLI("barrier", "--socket", c.node(primaryName).socket, "--timeout", "20s")
		if now, err := os.ReadFile(secondary); err != nil || string(now) != configV(4242) {
			t.Errorf("after the lock was released the secondary holds %d bytes (%v), want the new version", len(now), err)
		}
	})

	// A truncation that lasts replicates once the hold is over; a
	// deletion replicates at once.
	t.Run("empty past the hold, then deleted", func(t *testing.T) {
		primary := filepath.Join(c.tree(primaryName, "hold"), "config", "config.php")
		secondary := filepath.Join(c.tree("nfs2", "hold"), "config", "config.php")
		if err := os.Truncate(primary, 0); err != nil {
			t.Fatal(err)
		}
		emptied := time.Now()
		waitFor(t, 10*time.Second, func() string { return "the secondary's config.php did not become empty" }, func() bool {
			fi, err := os.Stat(secondary)
			return err == nil && fi.Size() == 0
		})
		if waited := time.Since(emptied); waited < 2*time.Second {
			t.Errorf("the empty config.php reached the secondary %v after the truncation, before its 2s hold", waited)
		}
		if err := os.Remove(primary); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, func() string { return "the secondary's config.php was not deleted" }, func() bool {
			_, err := os.Lstat(secondary)
			return os.IsNotExist(err)
		})
		c.waitConsistent(context.Background(), "nfs2")
	})
}

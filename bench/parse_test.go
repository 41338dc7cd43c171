package bench

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

var statTests = []struct {
	name          string
	stat          string
	own, children time.Duration
	wantErr       bool
}{
	{"plain", "1234 (ncsync) S 1 1234 1234 0 -1 4194560 2000 0 0 0 150 25 3 4 20 0 8 0 100 1000000 500 18446744073709551615",
		175 * clockTick, 7 * clockTick, false},
	{"name with spaces and parens", "99 (a) b (c)) R 1 99 99 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0 1 1 1",
		3 * clockTick, 7 * clockTick, false},
	{"no paren", "99 ncsync R 1", 0, 0, true},
	{"short", "99 (x) R 1 2 3", 0, 0, true},
	{"negative", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 -5 0 0 0 20", 0, 0, true},
	{"overflow", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 99999999999999999999 0 0 0 20", 0, 0, true},
}

func TestParseStat(t *testing.T) {
	for _, tt := range statTests {
		t.Run(tt.name, func(t *testing.T) {
			own, ch, err := parseStat([]byte(tt.stat))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if own != tt.own || ch != tt.children {
				t.Errorf("got %v/%v, want %v/%v", own, ch, tt.own, tt.children)
			}
		})
	}
}

func FuzzParseStat(f *testing.F) {
	for _, tt := range statTests {
		f.Add([]byte(tt.stat))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		own, ch, err := parseStat(b)
		if err == nil && (own < 0 || ch < 0) {
			t.Errorf("negative times %v %v", own, ch)
		}
	})
}

var statusTests = []struct {
	name           string
	status         string
	rss, anon, hwm int64
}{
	{"all", "Name:\tncsync\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\nRssAnon:\t   30000 kB\nRssFile:\t   10960 kB\nThreads:\t8\n",
		40960 << 10, 30000 << 10, 51200 << 10},
	{"missing", "Name:\tkthreadd\nThreads:\t1\n", 0, 0, 0},
	{"garbage", "VmRSS: lots kB\nVmHWM:\n", 0, 0, 0},
	{"negative", "VmRSS: -5 kB\n", 0, 0, 0},
}

func TestParseStatus(t *testing.T) {
	for _, tt := range statusTests {
		t.Run(tt.name, func(t *testing.T) {
			rss, anon, hwm := parseStatus(tt.status)
			if rss != tt.rss || anon != tt.anon || hwm != tt.hwm {
				t.Errorf("got %d/%d/%d, want %d/%d/%d", rss, anon, hwm, tt.rss, tt.anon, tt.hwm)
			}
		})
	}
}

func FuzzParseStatus(f *testing.F) {
	for _, tt := range statusTests {
		f.Add(tt.status)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if rss, anon, hwm := parseStatus(s); rss < 0 || anon < 0 || hwm < 0 {
			t.Errorf("negative sizes %d %d %d", rss, anon, hwm)
		}
	})
}

var statsTests = []struct {
	name string
	out  string
	want int64
}{
	{"rsync 3", "Number of files: 3\nTotal bytes sent: 1,234,567\nTotal bytes received: 89\n\nsent 1,234,567 bytes  received 89 bytes\n", 1234567 + 89},
	{"dot grouping", "Total bytes sent: 1.234\nTotal bytes received: 5\n", 1234 + 5},
	{"none", "rsync error: some files could not be transferred\n", 0},
}

func TestStatsBytes(t *testing.T) {
	for _, tt := range statsTests {
		t.Run(tt.name, func(t *testing.T) {
			if got := statsBytes(tt.out); got != tt.want {
				t.Errorf("statsBytes = %d, want %d", got, tt.want)
			}
		})
	}
}

func FuzzStatsBytes(f *testing.F) {
	for _, tt := range statsTests {
		f.Add(tt.out)
	}
	f.Fuzz(func(t *testing.T, s string) { statsBytes(s) })
}

// TestCompareTreesOrder covers names that sort differently as whole paths
// than within their directory ("a-b" < "a/b" but "a" < "a-b").
func TestCompareTreesOrder(t *testing.T) {
	mk := func(files map[string]string) string {
		dir := t.TempDir()
		mt := time.Unix(1700000000, 123)
		for name, body := range files {
			p := filepath.Join(dir, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(p, mt, mt)
		}
		for _, d := range []string{"a", "a/c"} {
			os.Chtimes(filepath.Join(dir, d), mt, mt)
		}
		return dir
	}
	base := map[string]string{"a/b": "1", "a-b": "2", "a/c/d": "3", "a0": "4"}
	tests := []struct {
		name  string
		other map[string]string
		want  []string
	}{
		{"equal", base, nil},
		{"content", map[string]string{"a/b": "x", "a-b": "2", "a/c/d": "3", "a0": "4"},
			[]string{`differs: "a/b": source -rw-r--r-- size 1 mtime 1700000000000000123, target -rw-r--r-- size 1 mtime 1700000000000000123, content equal false`}},
		{"missing", map[string]string{"a/b": "1", "a/c/d": "3", "a0": "4"}, []string{`only in source: "a-b"`}},
		{"extra", map[string]string{"a/b": "1", "a-b": "2", "a/c/d": "3", "a0": "4", "a/c/e": "5"}, []string{`only in target: "a/c/e"`}},
	}
	src := mk(base)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CompareTrees(src, mk(tt.other), true, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) {
				t.Errorf("diffs %q, want %q", got, tt.want)
			}
		})
	}
}

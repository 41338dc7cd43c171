package bench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A restarted daemon writes its profiles beside the first start's instead
// of over them.
func TestDaemonProfilePerStart(t *testing.T) {
	dir := t.TempDir()
	argv := filepath.Join(dir, "argv")
	bin := filepath.Join(dir, "fake-ncsync")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho \"$@\" >> "+argv+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{Bin: bin, Name: "n", Config: "n.yaml", Log: filepath.Join(dir, "log"), Profile: filepath.Join(dir, "r-n.pprof")}
	for range 3 {
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		if !d.Wait(10 * time.Second) {
			t.Fatal("the fake daemon did not exit")
		}
	}
	b, err := os.ReadFile(argv)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSpace(strings.ReplaceAll(string(b), dir+"/", "")), "\n")
	want := []string{
		"run --config n.yaml --cpuprofile r-n.pprof --memprofile r-n.heap.pprof",
		"run --config n.yaml --cpuprofile r-n-2.pprof --memprofile r-n-2.heap.pprof",
		"run --config n.yaml --cpuprofile r-n-3.pprof --memprofile r-n-3.heap.pprof",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("arguments of each start:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

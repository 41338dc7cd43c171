package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/ncsync/ncsync/chunker"
	ncsyncv1 "github.com/ncsync/ncsync/proto/ncsync/v1"
)

// oomChildEnv marks the child process of TestAnnouncedSizesRefused.
const oomChildEnv = "NCSYNC_TEST_ANNOUNCED_SIZES_CHILD"

// TestAnnouncedSizesRefused: one small response announcing 4,096 zstd
// chunks of 16 MiB each (64 GiB) is refused with a protocol error before
// anything is set aside for it. The fetch runs in a child process with its
// address space capped a few GiB above what it uses, so that a client
// that allocates what the peer announces dies there (fatal: out of
// memory) instead of taking the machine with it; the parent reports that
// as the failure.
func TestAnnouncedSizesRefused(t *testing.T) {
	if os.Getenv(oomChildEnv) == "1" {
		announcedSizesChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAnnouncedSizesRefused$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), oomChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", tail(out, 2000))
	if err != nil {
		if bytes.Contains(out, []byte("out of memory")) {
			t.Fatal("the client died allocating the sizes a peer announced")
		}
		t.Fatalf("child: %v", err)
	}
	if !bytes.Contains(out, []byte("refused:")) {
		t.Fatal("the child did not run the fetch")
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func announcedSizesChild(t *testing.T) {
	const n, size = 4096, 16 << 20
	zeros := make([]byte, size)
	id := chunker.Sum(zeros)
	data := zstdFrame(t, zeros) // really decodes to 16 MiB
	zeros = nil
	cd := &ncsyncv1.ChunkData{Id: id[:], Codec: ncsyncv1.Codec_CODEC_ZSTD, Size: size, Data: data}
	resp := &ncsyncv1.FetchChunksResponse{Chunks: slices.Repeat([]*ncsyncv1.ChunkData{cd}, n)}

	p := cluster(t)
	addr := startRawServer(t, p.serverTLS(t, "p1"), &rawServer{
		fetch: func(_ *ncsyncv1.FetchChunksRequest, s grpc.ServerStreamingServer[ncsyncv1.FetchChunksResponse]) error {
			return s.Send(resp)
		}})
	c := dial(t, addr, p.clientTLS(t, "s1"), DefaultLimits())
	capAddressSpace(t, 3<<30)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cs, err := c.FetchChunks(context.Background(), "f", slices.Repeat([]chunker.ID{id}, n))
	if err != nil {
		t.Fatal(err)
	}
	got, err := readAll(cs)
	cs.Close()
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	fmt.Printf("refused: %v (%d chunks accepted, %d MiB allocated)\n", err, len(got), allocated>>20)
	switch {
	case err == nil:
		t.Fatalf("accepted %d chunks", len(got))
	case !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "more than "+strconv.Itoa(MaxResponseDecoded)):
		t.Errorf("error %q: want a protocol error naming the limit", err)
	}
	if allocated > 1<<30 {
		t.Errorf("%d MiB allocated for a refused response", allocated>>20)
	}
}

// capAddressSpace limits the process's address space to what it maps now
// plus headroom.
func capAddressSpace(t *testing.T, headroom uint64) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var kb uint64
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "VmSize:"); ok {
			kb, _ = strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	if kb == 0 {
		t.Skip("no VmSize in /proc/self/status")
	}
	lim := kb<<10 + headroom
	if err := unix.Setrlimit(unix.RLIMIT_AS, &unix.Rlimit{Cur: lim, Max: lim}); err != nil {
		t.Fatal(err)
	}
}

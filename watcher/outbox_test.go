package watcher

import (
	"slices"
	"strings"
	"testing"
)

func TestOutbox(t *testing.T) {
	tests := []struct {
		name    string
		max     int
		add     []string
		want    [][]string // batches, in order
		flowOut bool
	}{
		{"dedupe", 10, []string{"a", "b", "a"}, [][]string{{"a", "b"}}, false},
		{"ancestor waiting covers child", 10, []string{"d", "d/x", "d/x/y", "dx", "e/f"}, [][]string{{"d", "dx", "e/f"}}, false},
		{"child before ancestor stays", 10, []string{"d/x", "d"}, [][]string{{"d/x", "d"}}, false},
		{"whole folder replaces all", 10, []string{"a", "b", "", "c"}, [][]string{{""}}, false},
		{"split by max", 2, []string{"a", "b", "c", "d", "e"}, [][]string{{"a", "b"}, {"c", "d"}, {"e"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutbox(tc.max)
			for _, p := range tc.add {
				o.add(p)
			}
			var got [][]string
			for {
				b, ok := o.head()
				if !ok {
					break
				}
				got = append(got, b.Paths)
				o.delivered(len(b.Paths))
			}
			if !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Fatalf("batches %q, want %q", got, tc.want)
			}
			if o.sent != o.added {
				t.Fatalf("sent %d, added %d", o.sent, o.added)
			}
		})
	}
}

func TestOutboxWholeFolderPositions(t *testing.T) {
	o := newOutbox(10)
	o.add("a")
	o.add("b")
	target := o.added // a Flush waiting for a and b
	o.wholeFolder(true)
	b, _ := o.head()
	if !b.Overflow || !slices.Equal(b.Paths, []string{""}) {
		t.Fatalf("head %+v", b)
	}
	if o.sent >= target {
		t.Fatal("flush satisfied before the rescan batch was sent")
	}
	o.delivered(1)
	if o.sent < target {
		t.Fatal("flush not satisfied by the rescan batch")
	}
	o.add("c")
	if b, _ := o.head(); b.Overflow {
		t.Fatal("overflow flag kept after its batch")
	}
}

func TestOutboxBatchesStayIntact(t *testing.T) {
	o := newOutbox(2)
	for _, p := range []string{"a", "b", "c"} {
		o.add(p)
	}
	b1, _ := o.head()
	o.delivered(len(b1.Paths))
	for _, p := range []string{"d", "e", "f", "g"} {
		o.add(p)
	}
	b1.Paths = append(b1.Paths, "consumer's own") // must not clobber the queue
	b2, _ := o.head()
	if !slices.Equal(b2.Paths, []string{"c", "d"}) || !slices.Equal(b1.Paths[:2], []string{"a", "b"}) {
		t.Fatalf("b1 %q, b2 %q", b1.Paths, b2.Paths)
	}
}

// FuzzOutbox checks the outbox's invariants for any sequence of paths and
// deliveries: positions add up, batches respect max, and no path is sent
// while an ancestor sent before it was still waiting.
func FuzzOutbox(f *testing.F) {
	f.Add("a\nb\na\n\x00\nc/d\nc\nc/d/e\n", uint8(2))
	f.Add("d\nd/x\n\nx\n", uint8(1))
	f.Add("a/b/c\na/b\na\n\x00\x00\n", uint8(3))
	f.Fuzz(func(t *testing.T, script string, max uint8) {
		o := newOutbox(int(max%8) + 1)
		for _, line := range strings.Split(script, "\n") {
			switch {
			case strings.HasPrefix(line, "\x00"):
				if b, ok := o.head(); ok {
					if len(b.Paths) > o.max || len(b.Paths) == 0 {
						t.Fatalf("batch of %d, max %d", len(b.Paths), o.max)
					}
					o.delivered(len(b.Paths))
				}
			case line == "!":
				o.wholeFolder(true)
			default:
				o.add(line)
			}
			if o.added-o.sent != uint64(len(o.queue)) || len(o.queue) != len(o.waiting) {
				t.Fatalf("added %d sent %d queue %d waiting %d", o.added, o.sent, len(o.queue), len(o.waiting))
			}
			for i, p := range o.queue {
				if _, ok := o.waiting[p]; !ok {
					t.Fatalf("queued %q not waiting", p)
				}
				for _, q := range o.queue[:i] {
					if q == p || q == "" {
						t.Fatalf("%q queued after %q", p, q)
					}
				}
			}
		}
	})
}

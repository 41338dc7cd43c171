package chunker

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the current implementation")

const vectorsFile = "testdata/vectors.json"

// vectorInput says how to regenerate a test input: PCG random bytes, source
// like text, or zeros, of Size bytes.
type vectorInput struct {
	Kind string `json:"kind"`
	Seed uint64 `json:"seed"`
	Size int    `json:"size"`
}

func (in vectorInput) bytes() []byte {
	switch in.Kind {
	case "random":
		return randomBytes(in.Seed, in.Size)
	case "text":
		return textBytes(in.Seed, in.Size)
	case "zeros":
		return make([]byte, in.Size)
	}
	panic("unknown input kind " + in.Kind)
}

type vectorChunk struct {
	Offset int64  `json:"offset"`
	Length int    `json:"length"`
	ID     string `json:"id"`
}

type vectorCase struct {
	Name   string        `json:"name"`
	Config Config        `json:"config"`
	Input  vectorInput   `json:"input"`
	FileID string        `json:"file_id"`
	Chunks []vectorChunk `json:"chunks"`
}

// vectorCases lists the pinned cases; their expected results live in
// testdata/vectors.json.
func vectorCases() []vectorCase {
	var cases []vectorCase
	for _, nc := range []struct {
		name string
		cfg  Config
	}{{"default", DefaultConfig()}, {"small", smallConfig}} {
		cfg := nc.cfg
		inputs := []vectorInput{}
		for i, size := range []int{0, 1, cfg.Min - 1, cfg.Min, cfg.Max + 1, 1 << 20, 8 << 20} {
			inputs = append(inputs, vectorInput{Kind: "random", Seed: uint64(100 + i), Size: size})
		}
		inputs = append(inputs,
			vectorInput{Kind: "text", Seed: 200, Size: 1 << 20},
			vectorInput{Kind: "zeros", Size: 1 << 20})
		for _, in := range inputs {
			cases = append(cases, vectorCase{
				Name:   fmt.Sprintf("%s/%s-%d", nc.name, in.Kind, in.Size),
				Config: cfg,
				Input:  in,
			})
		}
	}
	return cases
}

// compute fills in the expected results of vc from the implementation.
func (vc vectorCase) compute(t *testing.T) vectorCase {
	t.Helper()
	data := vc.Input.bytes()
	chunks, err := chunkAll(t, bytes.NewReader(data), vc.Config, data)
	if err != nil {
		t.Fatal(err)
	}
	checkChunks(t, data, chunks, vc.Config)
	var fh FileHasher
	vc.Chunks = []vectorChunk{}
	for _, ch := range chunks {
		fh.Add(ch.ID)
		vc.Chunks = append(vc.Chunks, vectorChunk{ch.Offset, ch.Length, ch.ID.String()})
	}
	vc.FileID = fh.Sum().String()
	return vc
}

func TestVectors(t *testing.T) {
	cases := vectorCases()
	for i := range cases {
		cases[i] = cases[i].compute(t)
	}
	if *update {
		if err := os.WriteFile(vectorsFile, formatVectors(t, cases), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", vectorsFile)
		return
	}
	raw, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatalf("%v (run go test -run TestVectors -update to create it)", err)
	}
	var want struct{ Cases []vectorCase }
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if len(want.Cases) != len(cases) {
		t.Fatalf("%s has %d cases, the test %d", vectorsFile, len(want.Cases), len(cases))
	}
	for i, got := range cases {
		w := want.Cases[i]
		t.Run(got.Name, func(t *testing.T) {
			if w.Name != got.Name || w.Config != got.Config || w.Input != got.Input {
				t.Fatalf("case %d is %s %+v %+v in the file", i, w.Name, w.Config, w.Input)
			}
			if len(w.Chunks) != len(got.Chunks) {
				t.Errorf("%d chunks, want %d", len(got.Chunks), len(w.Chunks))
			}
			for j := range min(len(w.Chunks), len(got.Chunks)) {
				if got.Chunks[j] != w.Chunks[j] {
					t.Fatalf("chunk %d = %+v, want %+v", j, got.Chunks[j], w.Chunks[j])
				}
			}
			if got.FileID != w.FileID {
				t.Errorf("file id %s, want %s", got.FileID, w.FileID)
			}
			ids := make([]ID, len(got.Chunks))
			for j, ch := range got.Chunks {
				if ids[j], err = ParseID(ch.ID); err != nil {
					t.Fatal(err)
				}
			}
			if FileID(ids).String() != w.FileID {
				t.Errorf("FileID over the chunk ids is not the pinned file id")
			}
		})
	}
}

// formatVectors writes one chunk per line, so that a diff of the file shows
// which cut moved.
func formatVectors(t *testing.T, cases []vectorCase) []byte {
	var b bytes.Buffer
	enc := func(v any) string {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(j)
	}
	b.WriteString("{\n\"comment\": \"FastCDC cut points and BLAKE3 ids pinned by TestVectors; regenerate with go test ./chunker -run TestVectors -update only for a deliberate format change\",\n\"cases\": [\n")
	for i, vc := range cases {
		fmt.Fprintf(&b, "{\"name\": %s, \"config\": %s, \"input\": %s, \"file_id\": %s, \"chunks\": [",
			enc(vc.Name), enc(vc.Config), enc(vc.Input), enc(vc.FileID))
		for j, ch := range vc.Chunks {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString("\n  " + enc(ch))
		}
		b.WriteString("]}")
		if i < len(cases)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]}\n")
	var check any
	if err := json.Unmarshal(b.Bytes(), &check); err != nil {
		t.Fatalf("formatted vectors are not JSON: %v", err)
	}
	return b.Bytes()
}

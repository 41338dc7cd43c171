package chunker

import (
	"encoding/binary"
	"math/rand/v2"
	"strconv"
)

// randomBytes returns n pseudo-random bytes from PCG seeded with seed. The
// stream is fixed by math/rand/v2's PCG definition, so the test vectors stay
// valid across Go releases.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x6368756e6b6572))
	b := make([]byte, n+7)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b[:n:n]
}

var textWords = []string{
	"<?php", "function", "return", "$this->", "array(", ");", "if", "else", "{", "}",
	"foreach", "as", "$key", "=>", "$value", "public", "private", "static", "class",
	"namespace", "use", "new", "null", "true", "false", "echo", "isset(", "empty(",
	"'id'", "'name'", "$request", "$response", "->get(", "->set(", "// TODO", "*/",
	"/**", " * @param", " * @return", "string", "int", "bool", "throw", "Exception",
}

// textBytes returns n bytes of compressible, source-code-like text, drawn
// deterministically from seed.
func textBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x74657874))
	b := make([]byte, 0, n+64)
	indent := 0
	for len(b) < n {
		words := 1 + r.IntN(8)
		for range indent {
			b = append(b, "    "...)
		}
		for w := range words {
			if w > 0 {
				b = append(b, ' ')
			}
			b = append(b, textWords[r.IntN(len(textWords))]...)
		}
		if r.IntN(5) == 0 {
			b = append(b, ' ')
			b = strconv.AppendUint(b, r.Uint64N(1<<20), 10)
		}
		b = append(b, ";\n"...)
		switch r.IntN(6) {
		case 0:
			indent = min(indent+1, 6)
		case 1:
			indent = max(indent-1, 0)
		}
	}
	return b[:n:n]
}

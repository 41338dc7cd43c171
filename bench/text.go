package bench

import (
	"math"
	"math/rand/v2"
	"strings"
	"sync"
)

// Text content is built from a fixed vocabulary per language: tokens that
// carry their own separators (so the output looks like code) and whole
// "phrases" (lines built from tokens once, at start) that repeat the way
// boilerplate repeats in a real code base. A token is picked with 16 random
// bits through a Zipf-shaped table, four tokens per random call, so the
// generator runs at memory-append speed rather than one rand call per byte.
// The mix of phrases and skew sets the zstd ratio (about 4x at zstd's
// fastest level over 64 KiB frames, like a Nextcloud webroot).

// lang is a kind of text file.
type lang int

const (
	langPHP lang = iota
	langJS
	langCSS
	langJSON
	numLangs
)

// ext is the file name extension of each language.
var langExt = [numLangs]string{".php", ".js", ".css", ".json"}

// vocabulary is the token table of one language.
type vocabulary struct {
	tokens []string
	// pick maps 16 random bits to a token index with a Zipf-like skew.
	pick [1 << 16]uint16
}

var (
	vocabOnce sync.Once
	vocabs    [numLangs]*vocabulary
)

// vocabFor returns the (shared, read-only) vocabulary of l.
func vocabFor(l lang) *vocabulary {
	vocabOnce.Do(func() {
		for i := range vocabs {
			vocabs[i] = buildVocabulary(lang(i))
		}
	})
	return vocabs[l]
}

// appendText appends n bytes of text in language l to b, drawn from r.
// The last byte is a newline when n > 0.
func appendText(b []byte, l lang, n int, r *rand.Rand) []byte {
	if n <= 0 {
		return b
	}
	v := vocabFor(l)
	start := len(b)
	end := start + n
	b = growTo(b, end+256)
	for len(b) < end {
		x := r.Uint64()
		b = append(b, v.tokens[v.pick[uint16(x)]]...)
		b = append(b, v.tokens[v.pick[uint16(x>>16)]]...)
		b = append(b, v.tokens[v.pick[uint16(x>>32)]]...)
		b = append(b, v.tokens[v.pick[uint16(x>>48)]]...)
	}
	b = b[:end]
	b[end-1] = '\n'
	return b
}

func growTo(b []byte, n int) []byte {
	if cap(b) >= n {
		return b
	}
	nb := make([]byte, len(b), n)
	copy(nb, b)
	return nb
}

// Building blocks of the vocabularies. None of them may produce a name that
// ncsync or Nextcloud treat specially (".ncsync-", "uploads", "*.part").
var (
	syllables = strings.Fields(`ac ad al am an ap ar as at ba be bi bo ca ce ch ci co
		con cu da de di do du el em en er es ex fa fe fi fo ga ge gi go ha he hi ho
		id il im in io is it ka la le li lo lu ma me mi mo mu na ne ni no nu ob oc
		ol om on op or os ot pa pe pi po pr pu qu ra re ri ro ru sa se si so st su
		ta te ti to tr tu ul um un ur us va ve vi vo za ze`)
	phpWords = strings.Fields(`public private protected function return static
		namespace use class interface extends implements new null true false array
		string int bool void self parent throw try catch finally foreach as if else
		elseif while for switch case break continue default declare strict_types
		const instanceof yield match readonly enum abstract final`)
	jsWords = strings.Fields(`const let var function return async await import
		export from default class extends new this null undefined true false if
		else for of in while switch case break typeof instanceof Promise Object
		Array String Number JSON console document window require module exports`)
	cssWords = strings.Fields(`display flex block none inline grid position
		relative absolute fixed margin padding border color background width height
		font-size font-weight line-height opacity z-index transition transform
		align-items justify-content overflow hidden auto inherit important solid
		px em rem vh vw rgba var calc hover focus active before after`)
	jsonWords = strings.Fields(`name version description type require autoload
		psr-4 license authors email homepage keywords scripts dependencies
		devDependencies main files repository url private config extra
		minimum-stability prefer-stable true false null`)
	punct = []string{"(", ")", "{", "}", "[", "]", ";", ",", ".", ":", "=", " = ",
		" => ", "->", "::", " === ", " !== ", " && ", " || ", "!", "?", "'", "\"", " + ", "$"}
	indents = []string{"\n", "\n\t", "\n\t\t", "\n    ", "\n        ", "\n            ", "\n\n"}
)

// buildVocabulary builds l's vocabulary from a fixed seed: the same on
// every run and machine, so trees are reproducible from the tree seed alone.
func buildVocabulary(l lang) *vocabulary {
	const phrases, singles = 150, 2000
	r := rand.New(rand.NewPCG(0x6e637379, uint64(l)+1))
	idents := make([]string, 1500)
	for i := range idents {
		idents[i] = identifier(r, l)
	}
	var words []string
	switch l {
	case langPHP:
		words = phpWords
	case langJS:
		words = jsWords
	case langCSS:
		words = cssWords
	case langJSON:
		words = jsonWords
	}
	sep := func() string {
		switch k := r.IntN(10); {
		case k < 6:
			return " "
		case k < 8:
			return punct[r.IntN(len(punct))]
		default:
			return indents[r.IntN(len(indents))]
		}
	}
	token := func() string {
		if r.IntN(3) == 0 {
			return words[r.IntN(len(words))]
		}
		return idents[r.IntN(len(idents))]
	}
	// Ranks decide frequency: keywords and punctuation first, then a mix of
	// phrases (whole lines of boilerplate that repeat across files) and
	// single tokens.
	var toks []string
	for _, w := range words {
		toks = append(toks, w+" ")
	}
	toks = append(toks, punct...)
	toks = append(toks, indents...)
	fixed := len(toks)
	for range phrases {
		var sb strings.Builder
		sb.WriteString(indents[1+r.IntN(len(indents)-2)])
		for range 3 + r.IntN(8) {
			sb.WriteString(token())
			sb.WriteString(sep())
		}
		toks = append(toks, sb.String())
	}
	r.Shuffle(len(toks)-fixed, func(i, j int) { toks[fixed+i], toks[fixed+j] = toks[fixed+j], toks[fixed+i] })
	for range singles {
		toks = append(toks, token()+sep())
	}
	v := &vocabulary{tokens: toks}
	fillZipf(v.pick[:], len(toks), 1.2, 2.5)
	return v
}

// identifier makes a name in the casing style of language l.
func identifier(r *rand.Rand, l lang) string {
	n := 1 + r.IntN(3)
	parts := make([]string, n)
	for i := range parts {
		s := syllables[r.IntN(len(syllables))] + syllables[r.IntN(len(syllables))]
		if i > 0 && l != langCSS && l != langJSON {
			s = strings.ToUpper(s[:1]) + s[1:]
		}
		parts[i] = s
	}
	switch l {
	case langCSS, langJSON:
		return strings.Join(parts, "-")
	case langPHP:
		if r.IntN(4) == 0 {
			return "$" + strings.Join(parts, "")
		}
	}
	return strings.Join(parts, "")
}

// fillZipf fills table so that index k (0 ≤ k < n) appears with weight
// 1/(k+q)^s.
func fillZipf(table []uint16, n int, s, q float64) {
	w := make([]float64, n)
	var total float64
	for k := range w {
		w[k] = 1 / math.Pow(float64(k)+q, s)
		total += w[k]
	}
	k, acc := 0, w[0]/total
	for i := range table {
		pos := (float64(i) + 0.5) / float64(len(table))
		for pos > acc && k < n-1 {
			k++
			acc += w[k] / total
		}
		table[i] = uint16(k)
	}
}

package bench

import (
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"time"
)

// userNames are the data directory's users, in order.
var userNames = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}

// docExts are office document types; all but .txt-like ones are zip or
// PDF containers, mostly incompressible.
var docExts = []string{".docx", ".xlsx", ".pptx", ".odt", ".ods", ".pdf"}

// planData lays out d under BinaryDir, drawing from r after the webroot
// was planned. names holds the taken relative paths.
func planData(d DataSpec, r *rand.Rand, when func() time.Time, names map[string]bool,
	dirs []dirPlan, files []filePlan) ([]dirPlan, []filePlan) {
	if d.files() == 0 {
		return dirs, files
	}
	mkdir := func(p string) string {
		if !names[p] {
			names[p] = true
			dirs = append(dirs, dirPlan{path: p, mode: 0o750, mtime: when()})
		}
		return p
	}
	mkdir(BinaryDir)
	type userDirs struct{ photos, videos, docs []string }
	users := make([]userDirs, min(d.Users, len(userNames)))
	for i := range users {
		home := mkdir(BinaryDir + "/" + userNames[i])
		root := mkdir(home + "/files")
		photos := mkdir(root + "/Photos")
		u := &users[i]
		u.photos = []string{photos}
		for y := range 3 {
			u.photos = append(u.photos, mkdir(fmt.Sprintf("%s/%d", photos, 2021+y)))
		}
		u.videos = []string{mkdir(root + "/Videos")}
		docs := mkdir(root + "/Documents")
		u.docs = []string{docs}
		for range 4 {
			u.docs = append(u.docs, mkdir(docs+"/"+identifier(r, langCSS)))
		}
	}
	size := func(lo, hi int64) int64 {
		if hi <= lo {
			return lo
		}
		v := math.Exp(math.Log(float64(lo)) + r.Float64()*(math.Log(float64(hi))-math.Log(float64(lo))))
		return min(max(int64(v), lo), hi)
	}
	add := func(dir, name string, n int64, mode fs.FileMode, kind string, l lang) {
		p := dir + "/" + name
		for i := 2; names[p]; i++ {
			p = fmt.Sprintf("%s/%d-%s", dir, i, name)
		}
		names[p] = true
		files = append(files, filePlan{File: File{Path: p, Size: n, Mode: mode, Text: kind == KindNote, Kind: kind},
			lang: l, mtime: when()})
	}
	pick := func(ds []string) string { return ds[r.IntN(len(ds))] }
	for i := range d.Photos {
		u := users[i%len(users)]
		add(pick(u.photos), fmt.Sprintf("IMG_%04d.jpg", 1000+i), size(d.PhotoMin, d.PhotoMax), 0o640, KindPhoto, 0)
	}
	for i := range d.Videos {
		u := users[i%len(users)]
		add(pick(u.videos), fmt.Sprintf("VID_%04d.mp4", 100+i), size(d.VideoMin, d.VideoMax), 0o640, KindVideo, 0)
	}
	for i := range d.Docs {
		u := users[i%len(users)]
		add(pick(u.docs), identifier(r, langCSS)+docExts[r.IntN(len(docExts))], size(d.DocMin, d.DocMax), 0o640, KindDoc, 0)
	}
	// Notes: many tiny files spread over small per-user note folders, the
	// way a notes or chat app leaves them.
	var notes [][]string
	for i := range users {
		base := mkdir(fmt.Sprintf("%s/%s/files/Notes", BinaryDir, userNames[i]))
		ds := []string{base}
		for range max(1, d.Tiny/len(users)/100) {
			ds = append(ds, mkdir(base+"/"+identifier(r, langCSS)))
		}
		notes = append(notes, ds)
	}
	for i := range d.Tiny {
		add(pick(notes[i%len(notes)]), identifier(r, langCSS)+".md", size(d.TinyMin, d.TinyMax), 0o640, KindNote, langJSON)
	}
	return dirs, files
}

package preview

import (
	"embed"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mailmerge/mailmerge/internal/letter"
)

//go:embed gallery
var galleryFiles embed.FS

var galleryPages = template.Must(template.New("").Funcs(template.FuncMap{
	"size":   func(n int) string { return Size(int64(n)) },
	"size64": Size,
	"join":   strings.Join,
}).ParseFS(galleryFiles, "gallery/*.html"))

// Gallery writes a static HTML gallery of letters into a folder: an
// index.html listing every letter, and a page per letter showing it as
// its reader would see it (the HTML part in a sandboxed frame, the text
// part, attachments, headers decoded), beside the letter's .eml file.
// Opening it needs no server and no network: the pages load nothing
// from elsewhere, and their Content-Security-Policy forbids it.
type Gallery struct {
	dir     string
	Title   string
	letters []galleryEntry
}

type galleryEntry struct {
	*View
	Page, EML string // file names, relative to the index
	Warnings  []string
}

// NewGallery makes the folder dir for a gallery. The pages and letters of
// a gallery written there before are removed, so none is left that the
// new index does not list; nothing else in dir is touched.
func NewGallery(dir, title string) (*Gallery, error) {
	letters := filepath.Join(dir, "letters")
	if err := os.MkdirAll(letters, 0o700); err != nil { // letters are personal data
		return nil, err
	}
	old, err := os.ReadDir(letters)
	if err != nil {
		return nil, err
	}
	for _, e := range old {
		if ext := filepath.Ext(e.Name()); e.Type().IsRegular() && (ext == ".html" || ext == ".eml" || ext == ".pdf") {
			if err := os.Remove(filepath.Join(letters, e.Name())); err != nil {
				return nil, err
			}
		}
	}
	return &Gallery{dir: dir, Title: title}, nil
}

// Add writes the page of the letter l, whose message is data, and its
// .eml file; name is the file name to use, without extension.
func (g *Gallery) Add(l *letter.Letter, data []byte, name string) error {
	v, err := Decode(l, data)
	if err != nil {
		return err
	}
	e := galleryEntry{View: v, Page: "letters/" + name + ".html", EML: "letters/" + name + ".eml"}
	for _, w := range l.Warnings {
		e.Warnings = append(e.Warnings, w.Error())
	}
	if err := os.WriteFile(filepath.Join(g.dir, e.EML), data, 0o600); err != nil {
		return err
	}
	// PDFs beside the page, for the browser's viewer to open: the
	// letters' printed pages above all.
	for i := range v.Attachments {
		a := &v.Attachments[i]
		if a.Type != "application/pdf" {
			continue
		}
		a.File = fmt.Sprintf("letters/%s-%d.pdf", name, i+1)
		if err := os.WriteFile(filepath.Join(g.dir, a.File), a.data, 0o600); err != nil {
			return err
		}
		a.data = nil
	}
	html, _ := v.Part("text/html")
	text, _ := v.Part("text/plain")
	if err := g.write(e.Page, "letter.html", struct {
		galleryEntry
		Title, HTML, Text, EMLName string
	}{e, g.Title, html, text, name + ".eml"}); err != nil {
		return err
	}
	g.letters = append(g.letters, e)
	return nil
}

// Close writes index.html.
func (g *Gallery) Close() error {
	return g.write("index.html", "index.html", struct {
		Title     string
		Generated string
		Letters   []galleryEntry
	}{g.Title, time.Now().Format("2006-01-02 15:04"), g.letters})
}

// Index is the gallery's index.html.
func (g *Gallery) Index() string { return filepath.Join(g.dir, "index.html") }

func (g *Gallery) write(name, page string, data any) error {
	f, err := os.OpenFile(filepath.Join(g.dir, name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	f.Chmod(0o600) // a page written by an earlier version may be 0644
	if err := galleryPages.ExecuteTemplate(f, page, data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	return f.Close()
}

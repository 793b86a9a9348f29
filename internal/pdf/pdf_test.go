package pdf

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mailmerge/mailmerge/internal/testenv"
)

// browser finds the Chromium the tests print with.
func browser(t *testing.T) string {
	return testenv.Tool(t, "chromium", "apt-get install chromium")
}

// text reads a PDF's text back with pdftotext.
func text(t *testing.T, pdf []byte) string {
	t.Helper()
	bin := testenv.Tool(t, "pdftotext", "apt-get install poppler-utils")
	cmd := exec.Command(bin, "-enc", "UTF-8", "-", "-")
	cmd.Stdin = bytes.NewReader(pdf)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out)
}

// TestPrint: a page prints with its Cyrillic text, its own image, and
// nothing from the network or from outside its folder.
func TestPrint(t *testing.T) {
	bin := browser(t)
	var requests atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests.Add(1) })}
	go srv.Serve(ln)
	defer srv.Close()
	remote := "http://" + ln.Addr().String()

	root := t.TempDir()
	dir := filepath.Join(root, "Сертификаты [2026] #1 100%") // a folder as people name them
	os.Mkdir(dir, 0o755)
	seal := image.NewRGBA(image.Rect(0, 0, 37, 23)) // a size the test finds again in the PDF
	for i := range seal.Pix {
		seal.Pix[i] = byte(i * 7)
	}
	var sealPNG bytes.Buffer
	png.Encode(&sealPNG, seal)
	os.WriteFile(filepath.Join(dir, "seal.png"), sealPNG.Bytes(), 0o644)
	os.WriteFile(filepath.Join(root, "secret.css"), []byte(`body::after { content: "SECRET" }`), 0o644)
	page := Page{Dir: dir, Name: "certificate.html", Title: "Сертификат Ивана", HTML: []byte(`<!DOCTYPE html><html><head><meta charset="utf-8">` +
		`<link rel="stylesheet" href="../secret.css"><link rel="stylesheet" href="` + remote + `/style.css"></head>` +
		`<body><h1>Сертификат</h1><p>Выдан: Иван Петров, Ёлкин</p><img src="seal.png"><img src="` + remote + `/pixel.png">` +
		`<script>document.body.append("SCRIPT RAN"); fetch("` + remote + `/script")</script></body></html>`)}

	p := New(bin)
	defer p.Close()
	out, err := p.Print(context.Background(), page)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, []byte("%PDF-")) {
		t.Fatalf("not a PDF: %q", out[:min(len(out), 20)])
	}
	got := text(t, out)
	for _, want := range []string{"Сертификат", "Выдан: Иван Петров, Ёлкин"} {
		if !strings.Contains(got, want) {
			t.Errorf("PDF text lacks %q:\n%s", want, got)
		}
	}
	for _, bad := range []string{"SECRET", "SCRIPT RAN"} {
		if strings.Contains(got, bad) {
			t.Errorf("PDF text has %q: a file outside the folder was read, or a script ran:\n%s", bad, got)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("printing made %d network requests; it must make none", n)
	}
	images := exec.Command(testenv.Tool(t, "pdfimages", "apt-get install poppler-utils"), "-list", "-")
	images.Stdin = bytes.NewReader(out)
	if list, err := images.Output(); err != nil || !regexp.MustCompile(`(?m)^\s*1\s+\d+\s+image\s+37\s+23\s`).Match(list) {
		t.Errorf("the PDF lacks the page's image from its folder: %v\n%s", err, list)
	}
	info := exec.Command(testenv.Tool(t, "pdfinfo", "apt-get install poppler-utils"), "-")
	info.Stdin = bytes.NewReader(out)
	if meta, err := info.Output(); err != nil || !strings.Contains(string(meta), "Сертификат Ивана") {
		t.Errorf("the PDF's title is not the page's: %v\n%s", err, meta)
	}
}

// TestPrintParallel: one browser prints pages at once in several tabs,
// each page its own.
func TestPrintParallel(t *testing.T) {
	bin := browser(t)
	p := New(bin)
	defer p.Close()
	dir := t.TempDir()
	names := []string{"Анна", "Борис", "Вера", "Глеб", "Дарья", "Егор"}
	outs := make([][]byte, len(names))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 3)
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out, err := p.Print(context.Background(), Page{Dir: dir, Name: "p.html", HTML: []byte("<meta charset=utf-8><p>Имя: " + name + "</p>")})
			if err != nil {
				t.Error(err)
			}
			outs[i] = out
		}()
	}
	wg.Wait()
	for i, name := range names {
		if got := text(t, outs[i]); !strings.Contains(got, "Имя: "+name) {
			t.Errorf("page %d: want %q, got %q", i, name, got)
		}
	}
}

// TestNoBrowser: a browser that is not there is a clear error, saying
// what to install, before anything is printed.
func TestNoBrowser(t *testing.T) {
	p := New(filepath.Join(t.TempDir(), "no-such-chromium"))
	defer p.Close()
	_, err := p.Print(context.Background(), Page{Dir: t.TempDir(), Name: "p.html", HTML: []byte("x")})
	if err == nil || !strings.HasPrefix(err.Error(), "PDF attachments need Chromium, Google Chrome or Microsoft Edge") || !strings.Contains(err.Error(), "no-such-chromium was not found") {
		t.Fatalf("got %v", err)
	}
}

// TestCloseLeavesNoProcess: after Close no process of the browser is
// left, whether it printed or was stopped.
func TestCloseLeavesNoProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("looks for processes in /proc")
	}
	bin := browser(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // chromedp makes the browser's profile here
	p := New(bin)
	if _, err := p.Print(context.Background(), Page{Dir: t.TempDir(), Name: "p.html", HTML: []byte("<p>x</p>")}); err != nil {
		t.Fatal(err)
	}
	if n := processesUsing(tmp); n == 0 {
		t.Fatal("found no browser process while it ran: the test cannot see them")
	}
	p.Close()
	if n := processesUsing(tmp); n != 0 {
		t.Errorf("%d browser processes left after Close", n)
	}
}

// processesUsing counts the processes whose command line names dir.
func processesUsing(dir string) int {
	entries, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(dir)) {
			n++
		}
	}
	return n
}

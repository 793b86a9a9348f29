package main

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
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// chromium finds Debian's headless Chromium, which .ci/run installs (and
// says so with MAILMERGE_TEST_CHROMIUM=1).
func chromium(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("MAILMERGE_TEST_CHROMIUM") != "" {
			t.Fatal("MAILMERGE_TEST_CHROMIUM is set but chromium is not installed")
		}
		t.Skip("chromium is not installed; .ci/run installs it (apt-get install chromium)")
	}
	return path
}

// browse runs headless Chromium on a page with extra arguments and
// returns what it printed on stdout.
func browse(t *testing.T, bin, page string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir=" + t.TempDir(), "--virtual-time-budget=3000"}, args...)
	cmd := exec.CommandContext(ctx, bin, append(args, "file://"+page)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", page, err, stderr.String())
	}
	return stdout.String()
}

// TestGalleryInChromium: preview --html writes a gallery that a real
// browser shows, every letter listed and each letter viewable, without
// the network: a letter's remote image and script reach nothing.
func TestGalleryInChromium(t *testing.T) {
	bin := chromium(t)

	var requests atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		t.Logf("request from the gallery: %s %s", r.Method, r.URL)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	remote := "http://" + ln.Addr().String()

	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "letter.html"), []byte("From: Кафедра <dept@example.edu>\nTo: {{.name}} <{{.email}}>\nSubject: Оценка для {{.name}}\nContent-Type: text/html\n\n"+
		"<p>Здравствуйте, <b>{{.name}}</b>!</p><img src=\""+remote+"/pixel.png\"><script>fetch(\""+remote+"/script\")</script>\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "people.csv"), []byte("name,email\nИван,ivan@example.com\nОльга,olga@example.com\nПётр & Co,petr@example.com\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "mailmerge.yaml"), []byte("campaign: gallery\ntemplate: letter.html\nrecipients:\n  file: people.csv\nmaildir:\n  path: outbox\n"), 0o644)
	out := filepath.Join(dir, "gallery")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"preview", "--html", out, "-c", filepath.Join(dir, "mailmerge.yaml")}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("preview --html: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}

	dom := browse(t, bin, filepath.Join(out, "index.html"), "--dump-dom")
	if n := strings.Count(dom, `<tr class="letter"`); n != 3 {
		t.Errorf("index lists %d letters, want 3:\n%s", n, dom)
	}
	for _, want := range []string{"Оценка для Иван", "Оценка для Ольга", "Оценка для Пётр &amp; Co", "petr@example.com"} {
		if !strings.Contains(dom, want) {
			t.Errorf("index lacks %q", want)
		}
	}

	page := filepath.Join(out, "letters", "0002-ivan@example.com.html")
	dom = browse(t, bin, page, "--dump-dom")
	if !strings.Contains(dom, `<iframe id="html" sandbox=""`) || !strings.Contains(dom, "Кафедра &lt;dept@example.edu&gt;") {
		t.Errorf("letter page:\n%s", dom)
	}
	shot := filepath.Join(dir, "letter.png")
	browse(t, bin, page, "--screenshot="+shot, "--window-size=1200,900")
	png, err := os.ReadFile(shot)
	if err != nil || len(png) < 10000 || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("screenshot: %d bytes, %v", len(png), err)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("opening the gallery made %d requests; it must need no network", n)
	}
}

// TestGalleryShowsPDFs: preview --html prints each letter's PDF
// attachment, writes it beside the letter's page and links it there;
// Chromium's own PDF viewer opens it, showing the recipient's
// certificate (a screenshot: the white page, with print on it, inside
// the viewer's dark frame).
func TestGalleryShowsPDFs(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "letter.txt"), []byte("From: Кафедра <dept@example.edu>\nTo: {{.name}} <{{.email}}>\nSubject: Сертификат\n"+
		"Attachment: certificate.html; render=pdf; filename=\"Сертификат {{.name}}.pdf\"\n\nЗдравствуйте, {{.name}}!\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "certificate.html"), []byte(`<!DOCTYPE html><html><head><meta charset="utf-8">`+
		`<style>@page { size: A4 landscape } h1 { font-size: 64px }</style></head><body><h1>Сертификат</h1><h2>{{.name}}</h2></body></html>`), 0o644)
	os.WriteFile(filepath.Join(dir, "people.csv"), []byte("name,email\nИван Петров,ivan@example.com\nОльга Ёлкина,olga@example.com\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "mailmerge.yaml"), []byte("campaign: gallery\ntemplate: letter.txt\nrecipients:\n  file: people.csv\nmaildir:\n  path: outbox\npdf:\n  browser: "+bin+"\n"), 0o644)
	out := filepath.Join(dir, "gallery")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"preview", "--html", out, "-c", filepath.Join(dir, "mailmerge.yaml")}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("preview --html: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	page, _ := os.ReadFile(filepath.Join(out, "letters", "0003-olga@example.com.html"))
	pdfFile := filepath.Join(out, "letters", "0003-olga@example.com-1.pdf")
	if !strings.Contains(string(page), `<a href="../letters/0003-olga@example.com-1.pdf">Сертификат Ольга Ёлкина.pdf</a>`) {
		t.Errorf("the letter's page does not link its PDF:\n%s", page)
	}

	ctx, cancel := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.WindowSize(1000, 800), chromedp.UserDataDir(t.TempDir()))...)
	defer cancel()
	ctx, cancel = chromedp.NewContext(ctx)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+pdfFile)); err != nil {
		t.Fatal(err)
	}
	// The viewer draws the document after the load: look until it shows.
	var shot []byte
	var white, inked float64
	for try := 0; try < 60 && !(white > 0.2 && inked > 0.002); try++ {
		time.Sleep(500 * time.Millisecond)
		res, err := chromedp.Call(ctx, cdppage.CaptureScreenshot, cdppage.CaptureScreenshotParams{})
		if err != nil {
			t.Fatal(err)
		}
		shot = res.Data
		white, inked = paper(t, shot)
	}
	if keep := os.Getenv("MAILMERGE_TEST_SHOTS"); keep != "" { // a folder to keep the screenshot in, to look at
		os.WriteFile(filepath.Join(keep, "pdf-viewer.png"), shot, 0o644)
	}
	if white <= 0.2 || inked <= 0.002 {
		t.Errorf("Chromium's PDF viewer shows no page with print on it (%.0f%% white, %.2f%% of it inked)", white*100, inked*100)
	}
}

// paper measures a screenshot: the share of its pixels that are white
// (the page), and the share of the page's box that is not (its print).
func paper(t *testing.T, shot []byte) (white, inked float64) {
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	box := image.Rectangle{Min: b.Max, Max: b.Min}
	n := 0
	isWhite := func(x, y int) bool {
		r, g, bl, _ := img.At(x, y).RGBA()
		return r > 0xf000 && g > 0xf000 && bl > 0xf000
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if isWhite(x, y) {
				n++
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	if n == 0 {
		return 0, 0
	}
	ink := 0
	for y := box.Min.Y; y < box.Max.Y; y++ {
		for x := box.Min.X; x < box.Max.X; x++ {
			if !isWhite(x, y) {
				ink++
			}
		}
	}
	return float64(n) / float64(b.Dx()*b.Dy()), float64(ink) / float64(box.Dx()*box.Dy())
}

package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
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

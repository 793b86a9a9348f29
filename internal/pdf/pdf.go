// Package pdf prints HTML pages to PDF with a headless browser of the
// Chromium family that is already on the machine (Chromium, Google
// Chrome, Microsoft Edge), driven over the DevTools protocol by
// chromedp.
//
// One Printer starts one browser, the first time a page is to be
// printed, and prints pages in tabs of it, as many at once as its
// callers ask (each tab is kept for the next page). Close ends the
// browser and every process it started.
//
// A page is printed offline: its address is a file in a folder (Page.Dir),
// and the browser may read the files of that folder and its subfolders
// (images, style sheets, fonts next to the template) and data: URLs;
// every other request (the network, other files) fails. Scripts do not
// run. So a page cannot fetch anything, nor wait for anything but its own
// files.
package pdf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Page is an HTML page to print.
type Page struct {
	HTML []byte // UTF-8
	// Dir is the folder the page's own files are read from: its
	// relative URLs (<img src="logo.png">) are relative to it.
	Dir string
	// Name is the file name the page goes by in Dir (the template's),
	// for its address; nothing is read from it.
	Name string
	// Title is the PDF's title when the page has no <title>; "" leaves
	// the browser's (the file name).
	Title string
}

// PageTimeout bounds the printing of one page.
const PageTimeout = time.Minute

// Printer prints pages with one browser. It is safe for concurrent use;
// its zero value is not: use New.
type Printer struct {
	browser string // as configured; "" to look for one

	mu      sync.Mutex
	started bool
	err     error           // why the browser did not start
	ctx     context.Context // the browser's
	cancel  context.CancelFunc
	idle    []*tab
	all     []*tab
	closed  bool
}

// New returns a Printer that prints with the browser program browser (a
// path, or a name on PATH), or with the first one Find finds when
// browser is "". Nothing is started until a page is printed.
func New(browser string) *Printer { return &Printer{browser: browser} }

// Start finds and starts the browser, unless it runs already. A browser
// that did not start is not tried again: every later call returns the
// same error.
func (p *Printer) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("the PDF printer is closed")
	}
	if p.started {
		return p.err
	}
	path, err := Find(p.browser)
	if err != nil {
		p.started, p.err = true, err
		return err
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Flag("disable-gpu", true),
		// No name resolves: nothing can reach the network, whatever
		// slipped past the interception of requests.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND"),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
	)
	// The browser lives until Close, not as long as the caller's ctx.
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(bctx) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		bcancel()
		acancel()
		if ctx.Err() != nil {
			return ctx.Err() // stopped, not failed: a later call may start it
		}
		p.started, p.err = true, fmt.Errorf("PDF attachments need a browser, and %s did not start: %w", path, err)
		return p.err
	}
	p.started, p.ctx = true, bctx
	p.cancel = func() { bcancel(); acancel() }
	return nil
}

// Print prints pg as a PDF on A4 paper (a page's CSS @page rule may say
// otherwise), with backgrounds, and returns the PDF. It starts the
// browser if it is not running yet.
func (p *Printer) Print(ctx context.Context, pg Page) ([]byte, error) {
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	t, err := p.take()
	if err != nil {
		return nil, err
	}
	out, err := t.print(ctx, pg)
	if err != nil {
		t.close() // it may be stuck in the page: a new one for the next
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("print %s as PDF: %w", pg.Name, err)
	}
	p.give(t)
	return out, nil
}

// Close ends the browser and every process it started, and waits for
// them. Printing after Close fails.
func (p *Printer) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.cancel != nil {
		for _, t := range p.all {
			t.cancel()
		}
		p.all, p.idle = nil, nil
		p.cancel()
		p.cancel = nil
	}
	return nil
}

// take returns an idle tab, or opens one.
func (p *Printer) take() (*tab, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errors.New("the PDF printer is closed")
	}
	if n := len(p.idle); n > 0 {
		t := p.idle[n-1]
		p.idle = p.idle[:n-1]
		return t, nil
	}
	t := &tab{}
	t.ctx, t.cancel = chromedp.NewContext(p.ctx)
	p.all = append(p.all, t)
	return t, nil
}

// give puts a tab back for the next page.
func (p *Printer) give(t *tab) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.idle = append(p.idle, t)
	}
}

// tab is a browser tab that prints one page at a time.
type tab struct {
	ctx    context.Context
	cancel context.CancelFunc
	ready  bool // scripts off, requests intercepted

	mu   sync.Mutex
	page Page   // the page being printed
	path string // its address's path
	dir  string // its folder, symlinks resolved
}

func (t *tab) close() { t.cancel() }

// print loads pg in the tab and prints it.
func (t *tab) print(ctx context.Context, pg Page) ([]byte, error) {
	dir, err := filepath.Abs(pg.Dir)
	if err == nil {
		dir, err = filepath.EvalSymlinks(dir)
	}
	if err != nil {
		return nil, err
	}
	// The same address as the page before is a reload, which the
	// interception answers with this page.
	path := filepath.ToSlash(filepath.Join(dir, pg.Name))
	if !strings.HasPrefix(path, "/") { // Windows: file:///C:/...
		path = "/" + path
	}
	u := (&url.URL{Scheme: "file", Path: path}).String()
	t.mu.Lock()
	t.page, t.path, t.dir = pg, path, dir
	t.mu.Unlock()
	if !t.ready {
		if err := t.prepare(); err != nil {
			return nil, err
		}
		t.ready = true
	}

	// The tab's context is the browser's; the caller's and the page's
	// time limit end this page alone.
	pctx, cancel := context.WithTimeout(t.ctx, PageTimeout)
	defer cancel()
	defer context.AfterFunc(ctx, cancel)()
	if err := chromedp.Do(pctx, chromedp.Navigate(u)); err != nil {
		return nil, err
	}
	if pg.Title != "" {
		title, _ := json.Marshal(pg.Title)
		if _, err := chromedp.Run(pctx, chromedp.Evaluate[bool]("document.title || (document.title = "+string(title)+", true)")); err != nil {
			return nil, err
		}
	}
	return chromedp.Run(pctx, chromedp.PrintToPDF(
		chromedp.PDFPaper(chromedp.PaperA4),
		chromedp.PDFPrintBackground(),
		chromedp.PDFPreferCSSPageSize(),
	))
}

// prepare turns the tab's scripts off and makes every request it sends
// wait for answer.
func (t *tab) prepare() error {
	paused := chromedp.Events(t.ctx, fetch.RequestPaused)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			t.answer(ev)
		}
	}()
	if _, err := chromedp.Call(t.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		return err
	}
	_, err := chromedp.Call(t.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*"}}})
	return err
}

// answer answers a request of the page: the page itself from memory, a
// file of its folder from disk, anything else with a failure.
func (t *tab) answer(ev fetch.EventRequestPaused) {
	t.mu.Lock()
	pg, path, dir := t.page, t.path, t.dir
	t.mu.Unlock()
	target := chromedp.FromContext(t.ctx).Target
	ctx, cancel := context.WithTimeout(t.ctx, 10*time.Second)
	defer cancel()
	switch {
	case isPage(ev.Request.URL, path):
		cdp.Call(ctx, target, fetch.FulfillRequest, fetch.FulfillRequestParams{
			RequestID: ev.RequestID, ResponseCode: 200, Body: pg.HTML,
			ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "text/html; charset=utf-8"}},
		})
	case inside(ev.Request.URL, dir):
		cdp.Call(ctx, target, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
	default:
		cdp.Call(ctx, target, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
	}
}

// isPage reports whether the address is the page's own: a file URL of
// its path, whatever the browser escaped in it.
func isPage(address, path string) bool {
	u, err := url.Parse(address)
	return err == nil && u.Scheme == "file" && (u.Host == "" || u.Host == "localhost") && u.Path == path
}

// inside reports whether the address is a file in the folder dir or
// below it (symlinks resolved).
func inside(address, dir string) bool {
	u, err := url.Parse(address)
	if err != nil || u.Scheme != "file" || u.Host != "" && u.Host != "localhost" {
		return false
	}
	p := filepath.FromSlash(u.Path)
	if len(p) > 2 && p[0] == '\\' && p[2] == ':' { // Windows: \C:\...
		p = p[1:]
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return false
	}
	rel, err := filepath.Rel(dir, real)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

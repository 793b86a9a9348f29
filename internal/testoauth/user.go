package testoauth

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// The user's part: what a person does in a browser, done with an HTTP
// client that keeps cookies and fills in the server's own forms.

// ApproveAuthCode plays the user who opens authURL (an authorization
// request that the program under test made): they sign in as user,
// consent, and their browser follows the redirect to the client's
// loopback redirect URI, whose listener must answer. It returns that
// redirect, which carries the code (or an error) and the state.
func (s *Server) ApproveAuthCode(t testing.TB, user, authURL string) *url.URL {
	t.Helper()
	b := s.browser(t)
	to := b.run(get(t, authURL), func(p *page) *http.Request {
		switch f := p.form; {
		case f == nil:
			return nil
		case f.has("login"):
			return f.submit(t, p.base, "login", user, "password", "any")
		case f.fields["prompt"] == "consent":
			return f.submit(t, p.base)
		}
		return nil
	})
	deliver(t, to)
	return to
}

// DenyAuthCode plays the user who opens authURL and cancels at the
// sign-in page; their browser follows the redirect (error=access_denied)
// to the client, which must answer. It returns that redirect.
func (s *Server) DenyAuthCode(t testing.TB, authURL string) *url.URL {
	t.Helper()
	b := s.browser(t)
	to := b.run(get(t, authURL), func(p *page) *http.Request {
		if href, ok := p.links["[ Cancel ]"]; ok {
			return get(t, p.base.ResolveReference(href).String())
		}
		return nil
	})
	deliver(t, to)
	return to
}

// ApproveDevice plays the user of a device flow: at the verification
// page they enter userCode, confirm, sign in as user and consent. The
// client's next poll then gets its tokens.
func (s *Server) ApproveDevice(t testing.TB, user, userCode string) {
	t.Helper()
	s.device(t, user, userCode, false)
}

// DenyDevice plays the user of a device flow who enters userCode and
// then aborts: the client's next poll gets access_denied.
func (s *Server) DenyDevice(t testing.TB, userCode string) {
	t.Helper()
	s.device(t, "", userCode, true)
}

func (s *Server) device(t testing.TB, user, userCode string, abort bool) {
	t.Helper()
	b := s.browser(t)
	b.run(get(t, s.VerifyURL), func(p *page) *http.Request {
		switch f := p.form; {
		case p.title == "Sign-in Success", abort && strings.Contains(p.text, "interrupted"):
			b.done = true
			return nil
		case f == nil:
			return nil
		case f.id == "op.deviceInputForm":
			return f.submit(t, p.base, "user_code", userCode)
		case f.id == "op.deviceConfirmForm" && abort:
			return f.submit(t, p.base, "abort", "yes")
		case f.id == "op.deviceConfirmForm":
			return f.submit(t, p.base)
		case f.has("login"):
			return f.submit(t, p.base, "login", user, "password", "any")
		case f.fields["prompt"] == "consent":
			return f.submit(t, p.base)
		}
		return nil
	})
}

// A browser visits the server's pages with one cookie jar.
type browser struct {
	t      testing.TB
	server *url.URL
	client *http.Client
	done   bool // the last page ends the visit
}

func (s *Server) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	server, _ := url.Parse(s.Issuer)
	return &browser{t: t, server: server, client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// run follows the server's redirects and pages from req, answering each
// page with act, until a redirect leaves the server (returned) or act
// sets done. A page act has no answer for fails the test.
func (b *browser) run(req *http.Request, act func(*page) *http.Request) *url.URL {
	t := b.t
	t.Helper()
	for range 20 {
		resp, err := b.client.Do(req)
		if err != nil {
			t.Fatalf("browser: %s %s: %v", req.Method, req.URL.Path, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if loc, err := resp.Location(); err == nil {
			if loc.Scheme != b.server.Scheme || loc.Host != b.server.Host {
				return loc
			}
			req = get(t, loc.String())
			continue
		}
		p := parsePage(resp.Request.URL, body)
		next := act(p)
		if b.done {
			return nil
		}
		if next == nil {
			t.Fatalf("browser: %s %s: %s, a page %q the user does not know what to do with: %.300s",
				req.Method, req.URL.Path, resp.Status, p.title, p.text)
		}
		req = next
	}
	t.Fatal("browser: more than 20 pages")
	return nil
}

// deliver is the browser's last step: the redirect to the client's
// loopback listener.
func deliver(t testing.TB, to *url.URL) {
	t.Helper()
	resp, err := http.Get(to.String())
	if err != nil {
		t.Fatalf("browser: redirect to the client at %s://%s%s: %v", to.Scheme, to.Host, to.Path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

func get(t testing.TB, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return req
}

// A page is what the user sees of an HTML answer: its title, its text,
// its first form and its links by their text.
type page struct {
	base  *url.URL
	title string
	text  string
	form  *form
	links map[string]*url.URL
}

type form struct {
	id, method string
	action     string
	names      []string // in document order
	fields     map[string]string
}

func (f *form) has(name string) bool { _, ok := f.fields[name]; return ok }

// submit sends the form with its fields, some set anew by name and value
// pairs, as the browser would on the first submit button.
func (f *form) submit(t testing.TB, base *url.URL, set ...string) *http.Request {
	t.Helper()
	v := url.Values{}
	for _, n := range f.names {
		v.Set(n, f.fields[n])
	}
	for i := 0; i+1 < len(set); i += 2 {
		v.Set(set[i], set[i+1])
	}
	action, err := base.Parse(f.action)
	if err != nil {
		t.Fatalf("browser: form action: %v", err)
	}
	if strings.EqualFold(f.method, "get") {
		action.RawQuery = v.Encode()
		return get(t, action.String())
	}
	req, _ := http.NewRequest("POST", action.String(), strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

func parsePage(base *url.URL, body []byte) *page {
	p := &page{base: base, links: map[string]*url.URL{}}
	doc, err := html.Parse(strings.NewReader(string(body)))
	if err != nil {
		p.text = string(body)
		return p
	}
	var text strings.Builder
	var walk func(n *html.Node, inForm bool)
	walk = func(n *html.Node, inForm bool) {
		switch {
		case n.Type == html.TextNode && (n.Parent == nil || (n.Parent.Data != "style" && n.Parent.Data != "script")):
			if s := strings.TrimSpace(n.Data); s != "" {
				text.WriteString(s + " ")
			}
		case n.Type == html.ElementNode && n.Data == "title" && n.FirstChild != nil:
			p.title = strings.TrimSpace(n.FirstChild.Data)
		case n.Type == html.ElementNode && n.Data == "form" && p.form == nil:
			p.form = &form{id: attr(n, "id"), method: attr(n, "method"), action: attr(n, "action"), fields: map[string]string{}}
			inForm = true
		case n.Type == html.ElementNode && n.Data == "input" && inForm:
			if name := attr(n, "name"); name != "" {
				if _, ok := p.form.fields[name]; !ok {
					p.form.names = append(p.form.names, name)
				}
				p.form.fields[name] = attr(n, "value")
			}
		case n.Type == html.ElementNode && n.Data == "a":
			if u, err := url.Parse(attr(n, "href")); err == nil && n.FirstChild != nil {
				p.links[strings.TrimSpace(n.FirstChild.Data)] = u
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inForm)
		}
	}
	walk(doc, false)
	p.text = text.String()
	return p
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

package testoauth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/mailmerge/mailmerge/internal/testenv"
)

//go:embed provider.mjs
var providerScript []byte

//go:embed npm/package.json
var packageJSON []byte

// Scopes are the scopes a client asks for in the tests, as Microsoft 365
// names them; the server also knows openid, email and Google's
// https://mail.google.com/. Unknown scopes are dropped from a grant.
var Scopes = []string{"SMTP.Send", "IMAP.AccessAsUser.All", "offline_access"}

var knownScopes = append([]string{"openid", "email", "https://mail.google.com/"}, Scopes...)

// pinned is the version of oidc-provider that npm/package.json names.
func pinned() string {
	var p struct{ Dependencies map[string]string }
	if err := json.Unmarshal(packageJSON, &p); err != nil {
		panic(err)
	}
	return p.Dependencies["oidc-provider"]
}

// Need returns the node program and the folder that holds
// node_modules/oidc-provider at the pinned version, or skips t where they
// are not installed (see testenv.Missing). The folder is
// $MAILMERGE_OIDC_PROVIDER, else oidc-provider in mailmerge's folder of the
// user's cache directory, where .ci/run installs it.
func Need(t testing.TB) (node, dir string) {
	t.Helper()
	install := "cp internal/testoauth/npm/package*.json to that folder and run npm ci there"
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Missing(t, "Node.js", "apt-get install nodejs")
	}
	dir = os.Getenv("MAILMERGE_OIDC_PROVIDER")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			testenv.Missing(t, "oidc-provider", install)
		}
		dir = filepath.Join(cache, "mailmerge", "oidc-provider")
	}
	want := pinned()
	var got struct{ Version string }
	data, err := os.ReadFile(filepath.Join(dir, "node_modules", "oidc-provider", "package.json"))
	if err == nil {
		err = json.Unmarshal(data, &got)
	}
	if err != nil || got.Version != want {
		testenv.Missing(t, "oidc-provider "+want+" in "+dir, install)
	}
	return node, dir
}

// Options say how the server issues tokens.
type Options struct {
	// AccessTokenTTL is how long an access token lives (whole seconds,
	// at least one); an hour when zero.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is how long a refresh token lives; 14 days when zero.
	RefreshTokenTTL time.Duration
}

// Server is a running authorization server. Its endpoints are those its
// discovery document (/.well-known/openid-configuration) names.
type Server struct {
	Issuer        string
	AuthURL       string // authorization endpoint
	TokenURL      string
	DeviceURL     string // device authorization endpoint (RFC 8628)
	VerifyURL     string // where the user enters a device flow's user code
	IntrospectURL string // RFC 7662
	RevokeURL     string // RFC 7009
	UserinfoURL   string
	// ResourceClientID and ResourceSecret are a confidential client that
	// may introspect every token, for resource servers (Dovecot); they
	// authenticate with HTTP Basic.
	ResourceClientID, ResourceSecret string

	registerURL, registrationToken string
}

// Start runs a server on a loopback port until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	node, dir := Need(t)
	if opts.AccessTokenTTL == 0 {
		opts.AccessTokenTTL = time.Hour
	}
	if opts.RefreshTokenTTL == 0 {
		opts.RefreshTokenTTL = 14 * 24 * time.Hour
	}
	d := t.TempDir()
	s := &Server{ResourceClientID: "resource-server", ResourceSecret: secret(), registrationToken: secret()}
	conf, err := json.Marshal(map[string]any{
		"module": filepath.Join(dir, "node_modules", "oidc-provider", "lib", "index.js"),
		"clients": []map[string]any{{
			"client_id":      s.ResourceClientID,
			"client_secret":  s.ResourceSecret,
			"grant_types":    []string{},
			"response_types": []string{},
			"redirect_uris":  []string{},
		}},
		"scopes":             knownScopes,
		"accessTokenTTL":     seconds(opts.AccessTokenTTL),
		"refreshTokenTTL":    seconds(opts.RefreshTokenTTL),
		"registrationToken":  s.registrationToken,
		"devicePollInterval": 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	script, confFile, logFile := filepath.Join(d, "provider.mjs"), filepath.Join(d, "conf.json"), filepath.Join(d, "log")
	if err := os.WriteFile(script, providerScript, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(confFile, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, script, confFile)
	cmd.Stderr = log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start oidc-provider: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		log.Close()
	})
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				port <- p
			}
		}
		close(port)
	}()
	select {
	case p, ok := <-port:
		if !ok {
			out, _ := os.ReadFile(logFile)
			t.Fatalf("oidc-provider ended before it listened:\n%s", out)
		}
		s.Issuer = "http://127.0.0.1:" + p
	case <-time.After(2 * time.Minute):
		// Node loads oidc-provider in seconds; on two cores busy with the
		// other packages' tests it took over 30 s once.
		out, _ := os.ReadFile(logFile)
		t.Fatalf("oidc-provider did not listen within 2 minutes:\n%s", out)
	}
	s.discover(t)
	return s
}

// discover fills in the endpoints from the discovery document.
func (s *Server) discover(t testing.TB) {
	t.Helper()
	var doc struct {
		Issuer        string `json:"issuer"`
		Auth          string `json:"authorization_endpoint"`
		Token         string `json:"token_endpoint"`
		Device        string `json:"device_authorization_endpoint"`
		Introspection string `json:"introspection_endpoint"`
		Revocation    string `json:"revocation_endpoint"`
		Userinfo      string `json:"userinfo_endpoint"`
		Registration  string `json:"registration_endpoint"`
	}
	resp, err := http.Get(s.Issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	if doc.Issuer != s.Issuer {
		t.Fatalf("discovery: issuer %q, want %q", doc.Issuer, s.Issuer)
	}
	s.AuthURL, s.TokenURL, s.DeviceURL = doc.Auth, doc.Token, doc.Device
	s.IntrospectURL, s.RevokeURL, s.UserinfoURL = doc.Introspection, doc.Revocation, doc.Userinfo
	s.registerURL = doc.Registration
	s.VerifyURL = s.Issuer + "/device" // oidc-provider's route; RFC 8628 responses name it too
}

// Endpoint is the server's endpoints for golang.org/x/oauth2, for a
// public client (client_id in the form, no secret).
func (s *Server) Endpoint() oauth2.Endpoint {
	return oauth2.Endpoint{AuthURL: s.AuthURL, TokenURL: s.TokenURL, DeviceAuthURL: s.DeviceURL, AuthStyle: oauth2.AuthStyleInParams}
}

// Client registers a public client (a native application: no secret,
// PKCE required) that may use the authorization code grant, refresh
// tokens and the device grant, and returns its client id. redirectURIs
// default to http://127.0.0.1/; a loopback redirect URI matches a request
// on any port (RFC 8252 §7.3).
func (s *Server) Client(t testing.TB, redirectURIs ...string) string {
	t.Helper()
	if len(redirectURIs) == 0 {
		redirectURIs = []string{"http://127.0.0.1/"}
	}
	body, _ := json.Marshal(map[string]any{
		"application_type":           "native",
		"token_endpoint_auth_method": "none",
		"grant_types":                []string{"authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"},
		"response_types":             []string{"code"},
		"redirect_uris":              redirectURIs,
	})
	req, _ := http.NewRequest("POST", s.registerURL, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.registrationToken)
	var reg struct {
		ClientID string `json:"client_id"`
	}
	doJSON(t, "register a client", req, http.StatusCreated, &reg)
	return reg.ClientID
}

// doJSON sends req and decodes the JSON answer into v, failing t unless
// the status is want. Answers carry no secrets worth hiding in a
// failure but the error ones are shown only in part.
func doJSON(t testing.TB, what string, req *http.Request, want int, v any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		var e struct{ Error, ErrorDescription string }
		json.Unmarshal(data, &e)
		t.Fatalf("%s: %s: %s %s", what, resp.Status, e.Error, e.ErrorDescription)
	}
	if v != nil {
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
}

// Redact shortens a token or code to its first four characters and its
// length, for logs.
func Redact(token string) string {
	if len(token) <= 8 {
		return fmt.Sprintf("[%d chars]", len(token))
	}
	return fmt.Sprintf("%s…[%d chars]", token[:4], len(token))
}

func secret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func seconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

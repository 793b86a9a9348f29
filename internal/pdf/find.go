package pdf

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// ErrNoBrowser is wrapped by the errors of Find when no browser is found.
var ErrNoBrowser = errors.New("PDF attachments need Chromium, Google Chrome or Microsoft Edge")

// Find returns the browser program to print with: configured, when it is
// set (a path, or a name looked up on PATH), or else the first of the
// usual Chromium-family browsers of this system that is installed (on
// Windows, Edge comes with the system).
func Find(configured string) (string, error) {
	if configured != "" {
		if p, err := lookPath(configured); err == nil {
			return p, nil
		}
		return "", fmt.Errorf("%w; %s was not found: install one of them, or name its program there", ErrNoBrowser, configured)
	}
	for _, c := range candidates(runtime.GOOS) {
		if p, err := lookPath(c); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w; install one of them (%s), or set pdf.browser in the config (or $MAILMERGE_PDF_BROWSER) to its program", ErrNoBrowser, install(runtime.GOOS))
}

// lookPath finds a program by name on PATH, or checks that a path (with a
// separator in it) is a regular file.
func lookPath(p string) (string, error) {
	if !strings.ContainsAny(p, `/\`) {
		return exec.LookPath(p)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if fi.IsDir() {
		return "", fmt.Errorf("%s is a folder", p)
	}
	return filepath.Abs(p)
}

// install says how to install a browser on goos.
func install(goos string) string {
	switch goos {
	case "windows":
		return "Microsoft Edge comes with Windows; or Google Chrome from google.com/chrome"
	case "darwin":
		return "Google Chrome from google.com/chrome, or brew install --cask chromium"
	}
	return "Debian, Ubuntu: apt install chromium; Fedora: dnf install chromium"
}

// candidates are the usual names and places of Chromium-family browsers
// on goos, in the order they are tried.
func candidates(goos string) []string {
	switch goos {
	case "windows":
		var out []string
		for _, env := range []string{"ProgramFiles(x86)", "ProgramFiles", "LocalAppData"} {
			if dir := os.Getenv(env); dir != "" {
				out = append(out,
					filepath.Join(dir, `Microsoft\Edge\Application\msedge.exe`),
					filepath.Join(dir, `Google\Chrome\Application\chrome.exe`),
					filepath.Join(dir, `Chromium\Application\chrome.exe`))
			}
		}
		return append(out,
			`C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe`,
			`C:\Program Files\Microsoft\Edge\Application\msedge.exe`,
			`C:\Program Files\Google\Chrome\Application\chrome.exe`,
			"msedge.exe", "chrome.exe")
	case "darwin":
		home, _ := os.UserHomeDir()
		var out []string
		for _, app := range []string{"Google Chrome.app/Contents/MacOS/Google Chrome", "Chromium.app/Contents/MacOS/Chromium", "Microsoft Edge.app/Contents/MacOS/Microsoft Edge"} {
			out = append(out, "/Applications/"+app)
			if home != "" {
				out = append(out, filepath.Join(home, "Applications", app))
			}
		}
		return out
	}
	return []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "microsoft-edge", "microsoft-edge-stable", "/snap/bin/chromium"}
}

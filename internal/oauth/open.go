package oauth

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
)

// OpenBrowser asks the desktop to open url in the user's browser:
// rundll32's FileProtocolHandler on Windows, open(1) on macOS, and
// xdg-open elsewhere. It does not wait for the browser. Outside a
// graphical session it does not try (xdg-open would start a text browser
// in the terminal mailmerge runs in).
func OpenBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	case "darwin":
		cmd = exec.Command("open", url)
	default:
		if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
			return errors.New("open a browser: no graphical session")
		}
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}

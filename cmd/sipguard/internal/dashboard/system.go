package dashboard

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/api"
)

// firmwareData is the firmware page's.
type firmwareData struct {
	Firmware api.Firmware
	Board    api.Board
	Error    string // next to the upload
}

func (s *server) firmware(w http.ResponseWriter, r *http.Request) {
	s.showFirmware(w, r, http.StatusOK, "")
}

func (s *server) showFirmware(w http.ResponseWriter, r *http.Request, code int, uploadErr string) {
	f, err := s.b.Firmware(r.Context())
	if err != nil {
		s.failed(w, r, "read the firmware", err)
		return
	}
	b, _ := s.b.Board(r.Context())
	s.render(w, r, code, "firmware", "Firmware", firmwareData{Firmware: f, Board: b, Error: uploadErr})
}

// firmwareUpdate installs an uploaded signed bundle into the other slot;
// the bundle's signature is checked before anything is written.
func (s *server) firmwareUpdate(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, api.MaxBundle)
	f, _, err := r.FormFile("bundle")
	if err != nil {
		s.showFirmware(w, r, http.StatusBadRequest, "choose an update bundle: "+message(err))
		return
	}
	defer f.Close()
	u, err := s.b.Update(r.Context(), f)
	if err != nil {
		s.showFirmware(w, r, http.StatusBadRequest, "not installed: "+message(err))
		return
	}
	s.done(w, r, "/firmware", fmt.Sprintf("%s installed into slot %s: it starts at the next reboot, for one try", u.Version, u.Slot),
		"update", u.Version, "slot", u.Slot)
}

// reboot reboots the box, after a confirmation page.
func (s *server) reboot(w http.ResponseWriter, r *http.Request) {
	if r.PostFormValue("confirm") != "yes" {
		s.render(w, r, http.StatusOK, "confirm", "Reboot", confirmData{
			Question: "Reboot the box? Calls in progress are cut and the office is unprotected for about a minute.",
			Action:   "/firmware/reboot", Fields: []row{{"confirm", "yes"}}, Button: "Reboot", Cancel: "/firmware", Danger: true})
		return
	}
	if err := s.b.Halt(r.Context(), api.HaltReboot); err != nil {
		s.refused(w, r, "/firmware", "not rebooted: "+message(err))
		return
	}
	s.done(w, r, "/firmware", "rebooting: the dashboard is back in about a minute", "halt", api.HaltReboot)
}

// tokensData is the tokens page's.
type tokensData struct {
	Available   bool
	Tokens      []Token
	Fingerprint string
	Name        string // as typed
	Error       string
	// Secret is a token just created: shown this once.
	Secret  string
	Created Token
}

func (s *server) tokens(w http.ResponseWriter, r *http.Request) {
	s.showTokens(w, r, http.StatusOK, tokensData{})
}

func (s *server) showTokens(w http.ResponseWriter, r *http.Request, code int, d tokensData) {
	d.Fingerprint, d.Available = s.o.Fingerprint, s.o.Tokens != nil
	if d.Available {
		ts, err := s.o.Tokens.List(r.Context())
		if err != nil {
			s.failed(w, r, "read the tokens", err)
			return
		}
		d.Tokens = ts
	}
	s.render(w, r, code, "tokens", "API tokens", d)
}

// tokenCreate makes a token and answers with its secret, this once: the
// page is not a redirect, so the secret is in no later page.
func (s *server) tokenCreate(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	if s.o.Tokens == nil {
		s.showTokens(w, r, http.StatusBadRequest, tokensData{Name: name, Error: "tokens are not kept on this box"})
		return
	}
	if name == "" {
		s.showTokens(w, r, http.StatusBadRequest, tokensData{Error: "give the token a name, such as laptop"})
		return
	}
	secret, t, err := s.o.Tokens.Create(r.Context(), name)
	if err != nil {
		s.showTokens(w, r, http.StatusBadRequest, tokensData{Name: name, Error: message(err)})
		return
	}
	s.o.Log.Info("dashboard change", "done", "token created", "name", t.Name, "id", t.ID)
	s.showTokens(w, r, http.StatusOK, tokensData{Secret: secret, Created: t})
}

func (s *server) tokenRevoke(w http.ResponseWriter, r *http.Request) {
	id := r.PostFormValue("id")
	if s.o.Tokens == nil || id == "" {
		s.refused(w, r, "/tokens", "no token to revoke")
		return
	}
	if err := s.o.Tokens.Revoke(r.Context(), id); err != nil {
		s.refused(w, r, "/tokens", "not revoked: "+message(err))
		return
	}
	s.done(w, r, "/tokens", "token revoked: it no longer opens the API", "token", id)
}

// backupData is the backup page's.
type backupData struct {
	BackupError  string
	RestoreError string
}

func (s *server) backup(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "backup", "Backup", backupData{})
}

// backupDownload answers with an encrypted backup under the password
// given twice.
func (s *server) backupDownload(w http.ResponseWriter, r *http.Request) {
	pw, again := r.PostFormValue("password"), r.PostFormValue("again")
	if pw != again {
		s.render(w, r, http.StatusBadRequest, "backup", "Backup", backupData{BackupError: "the two passwords differ"})
		return
	}
	file, err := s.b.Backup(r.Context(), pw)
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, api.ErrBadRequest) {
			code = http.StatusBadRequest
		}
		s.render(w, r, code, "backup", "Backup", backupData{BackupError: message(err)})
		return
	}
	s.o.Log.Info("dashboard change", "done", "backup downloaded")
	name := "sipguard-" + s.o.Now().Format("20060102-1504") + ".backup"
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(file)
}

// restore applies an uploaded backup: checked whole first; a wrong
// password or an altered file changes nothing.
func (s *server) restore(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, api.MaxBackup)
	f, _, err := r.FormFile("file")
	if err != nil {
		s.render(w, r, http.StatusBadRequest, "backup", "Backup", backupData{RestoreError: "choose a backup file: " + message(err)})
		return
	}
	defer f.Close()
	file, err := io.ReadAll(f)
	if err != nil {
		s.render(w, r, http.StatusBadRequest, "backup", "Backup", backupData{RestoreError: message(err)})
		return
	}
	res, err := s.b.Restore(r.Context(), r.PostFormValue("password"), file)
	if err != nil {
		code, msg := http.StatusInternalServerError, "restore failed: "+message(err)
		if errors.Is(err, api.ErrBadRequest) {
			code, msg = http.StatusBadRequest, "refused, nothing was changed: "+message(err)
		}
		s.render(w, r, code, "backup", "Backup", backupData{RestoreError: msg})
		return
	}
	s.done(w, r, "/backup", fmt.Sprintf("restored the backup of %s (firmware %s): %d allowed, %d denied, %d permanent bans; configuration replaced: %v",
		when(res.Created), res.Firmware, res.Allow, res.Deny, res.Permanent, res.Config), "restored", res.Created)
}

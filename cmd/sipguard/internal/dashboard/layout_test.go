package dashboard

import (
	"regexp"
	"strings"
	"testing"
)

// On a phone, a table of many columns scrolls inside its box instead of
// widening the page: every table but the two-column counts sits right
// inside <div class="scroll">.
func TestWideTablesScroll(t *testing.T) {
	actions := regexp.MustCompile(`\{\{[^}]*\}\}`)
	for name, text := range templates(t) {
		text = actions.ReplaceAllString(text, "")
		for i := strings.Index(text, "<table"); i >= 0; {
			open := text[i : i+strings.Index(text[i:], ">")+1]
			if !strings.Contains(open, `class="counts"`) && !strings.HasSuffix(strings.TrimSpace(text[:i]), `<div class="scroll">`) {
				t.Errorf("%s: %s is not inside <div class=\"scroll\">", name, open)
			}
			next := strings.Index(text[i+1:], "<table")
			if next < 0 {
				break
			}
			i += 1 + next
		}
	}
}

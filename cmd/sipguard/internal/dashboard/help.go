package dashboard

import (
	"regexp"
	"strings"
	"sync"

	"github.com/sipguard/sipguard/cmd/sipguard/internal/config"
)

var (
	sectionLine = regexp.MustCompile(`^\[([A-Za-z0-9_.-]+)\]`)
	keyLine     = regexp.MustCompile(`^([A-Za-z0-9_]+)\s*=`)
	moreLine    = regexp.MustCompile(`^\s+#\s?(.*)$`)
)

// keyHelp is what the default configuration file says of each key
// (section.key): the comment on its line and the comment lines under it.
var keyHelp = sync.OnceValue(func() map[string]string {
	out := map[string]string{}
	section, last := "", ""
	for line := range strings.SplitSeq(string(config.Default()), "\n") {
		if m := sectionLine.FindStringSubmatch(line); m != nil {
			section, last = m[1], ""
			continue
		}
		if m := keyLine.FindStringSubmatch(line); m != nil {
			last = section + "." + m[1]
			if _, comment, ok := strings.Cut(line, " # "); ok {
				out[last] = strings.TrimSpace(comment)
			}
			continue
		}
		if m := moreLine.FindStringSubmatch(line); m != nil && last != "" {
			out[last] = strings.TrimSpace(out[last] + " " + m[1])
			continue
		}
		last = ""
	}
	return out
})

package feeds

import "time"

// The default feeds' URLs.
const (
	VoIPBLURL       = "http://www.voipbl.org/update/"
	FireHOLLevel1   = "https://iplists.firehol.org/files/firehol_level1.netset"
	SpamhausDROPURL = "https://www.spamhaus.org/drop/drop.txt"
	SpamhausDROP6   = "https://www.spamhaus.org/drop/drop_v6.txt"
	APIBANURL       = "https://apiban.org/api/"
)

// Defaults is the feed list a box starts with (docs/feeds.md): free lists
// meant for firewalls, each on and switchable off by name. APIBAN is in
// the list but enabled only when apibanKey is given (a free key from
// apiban.org).
func Defaults(apibanKey string) []Feed {
	return []Feed{
		{Name: "voipbl", URL: VoIPBLURL, Format: Text, Enabled: true, Interval: 6 * time.Hour},
		{Name: "firehol_level1", URL: FireHOLLevel1, Format: Text, Enabled: true, Interval: 6 * time.Hour},
		{Name: "spamhaus_drop", URL: SpamhausDROPURL, Format: Text, Enabled: true, Interval: 12 * time.Hour},
		{Name: "spamhaus_drop_v6", URL: SpamhausDROP6, Format: Text, Enabled: true, Interval: 12 * time.Hour},
		{Name: "apiban", URL: APIBANURL, Format: APIBAN, APIKey: apibanKey, Enabled: apibanKey != "", Interval: time.Hour},
	}
}

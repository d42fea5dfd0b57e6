package sip

import (
	"bytes"
	"errors"
)

// Errors returned by Parse. They are fixed values, so returning one costs no
// allocation; compare with errors.Is.
var (
	ErrTruncated = errors.New("sip: truncated message (headers do not end with a blank line)")
	ErrStartLine = errors.New("sip: malformed request or status line")
	ErrHeader    = errors.New("sip: malformed header line")
	ErrValue     = errors.New("sip: malformed header value")
	ErrMissing   = errors.New("sip: missing a mandatory header (From, To, Call-ID, CSeq or Via)")
)

// Parse parses the SIP message at the start of b into m. It reads the start
// line and the headers up to the blank line that ends them; the body, if
// any, starts at m.BodyOffset. On error m holds what was read so far and
// must not be used.
//
// Parse does not allocate.
func Parse(b []byte, m *Message) error {
	m.reset()
	start, end, next, ok := nextLine(b, 0)
	if !ok {
		return ErrTruncated
	}
	if err := parseStartLine(b[start:end], m); err != nil {
		return err
	}
	var seen uint8
	for {
		start, end, next, ok = nextLine(b, next)
		if !ok {
			return ErrTruncated
		}
		if start == end {
			m.BodyOffset = next
			break
		}
		// Folded lines (starting with a space or tab) continue the header.
		for next < len(b) && (b[next] == ' ' || b[next] == '\t') {
			_, end, next, ok = nextLine(b, next)
			if !ok {
				return ErrTruncated
			}
		}
		h, err := parseHeader(b[start:end], m, seen)
		if err != nil {
			return err
		}
		seen |= h
	}
	if seen&mandatory != mandatory {
		return ErrMissing
	}
	if !m.Request && m.MethodName == nil {
		return ErrValue
	}
	return nil
}

// nextLine finds the line starting at from: it returns the line's bounds
// without its CRLF (or bare LF), and where the next line starts.
func nextLine(b []byte, from int) (start, end, next int, ok bool) {
	i := bytes.IndexByte(b[from:], '\n')
	if i < 0 {
		return 0, 0, 0, false
	}
	end = from + i
	next = end + 1
	if end > from && b[end-1] == '\r' {
		end--
	}
	return from, end, next, true
}

func parseStartLine(line []byte, m *Message) error {
	if hasPrefixFold(line, "sip/") {
		// Status-Line: SIP-Version SP Status-Code SP Reason-Phrase
		if len(line) < 11 || !equalFold(line[:7], "sip/2.0") || line[7] != ' ' || (len(line) > 11 && line[11] != ' ') {
			return ErrStartLine
		}
		code := 0
		for _, c := range line[8:11] {
			if c < '0' || c > '9' {
				return ErrStartLine
			}
			code = code*10 + int(c-'0')
		}
		if code < 100 || code > 699 {
			return ErrStartLine
		}
		m.Status = code
		if len(line) > 12 {
			m.Reason = line[12:]
		}
		return nil
	}
	// Request-Line: Method SP Request-URI SP SIP-Version
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return ErrStartLine
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 <= 0 {
		return ErrStartLine
	}
	sp2 += sp1 + 1
	method, uri, version := line[:sp1], line[sp1+1:sp2], line[sp2+1:]
	if !isToken(method) || !equalFold(version, "sip/2.0") || bytes.IndexByte(uri, ':') <= 0 {
		return ErrStartLine
	}
	m.Request = true
	m.MethodName, m.Method = method, methodOf(method)
	m.RequestURI = uri
	m.URIUser = uriUser(uri)
	return nil
}

// Header bits, to check that the mandatory headers were seen.
const (
	hFrom uint8 = 1 << iota
	hTo
	hCallID
	hCSeq
	hVia
	mandatory = hFrom | hTo | hCallID | hCSeq | hVia
)

// header names the headers the parser reads.
type header uint8

const (
	hdrOther header = iota
	hdrFrom
	hdrTo
	hdrCallID
	hdrCSeq
	hdrVia
	hdrUserAgent
	hdrServer
	hdrContact
	hdrAuthorization
	hdrProxyAuthorization
	hdrChallenge // WWW-Authenticate, Proxy-Authenticate
	hdrExpires
	hdrContentLength
)

// headerOf recognises a header name, in any case, long or compact. It
// switches on the length first, so that an unknown header costs one or two
// comparisons.
func headerOf(name []byte) header {
	switch len(name) {
	case 1:
		switch lower(name[0]) {
		case 'f':
			return hdrFrom
		case 't':
			return hdrTo
		case 'i':
			return hdrCallID
		case 'v':
			return hdrVia
		case 'm':
			return hdrContact
		case 'l':
			return hdrContentLength
		}
	case 2:
		if equalFold(name, "to") {
			return hdrTo
		}
	case 3:
		if equalFold(name, "via") {
			return hdrVia
		}
	case 4:
		switch {
		case equalFold(name, "from"):
			return hdrFrom
		case equalFold(name, "cseq"):
			return hdrCSeq
		}
	case 6:
		if equalFold(name, "server") {
			return hdrServer
		}
	case 7:
		switch {
		case equalFold(name, "call-id"):
			return hdrCallID
		case equalFold(name, "contact"):
			return hdrContact
		case equalFold(name, "expires"):
			return hdrExpires
		}
	case 10:
		if equalFold(name, "user-agent") {
			return hdrUserAgent
		}
	case 13:
		if equalFold(name, "authorization") {
			return hdrAuthorization
		}
	case 14:
		if equalFold(name, "content-length") {
			return hdrContentLength
		}
	case 16:
		if equalFold(name, "www-authenticate") {
			return hdrChallenge
		}
	case 18:
		if equalFold(name, "proxy-authenticate") {
			return hdrChallenge
		}
	case 19:
		if equalFold(name, "proxy-authorization") {
			return hdrProxyAuthorization
		}
	}
	return hdrOther
}

// parseHeader reads one header line (folds included) into m and reports
// which mandatory header it was. Of a mandatory header seen twice, the first
// counts.
func parseHeader(line []byte, m *Message, seen uint8) (uint8, error) {
	// The name is a token, then optional blanks, then the colon: one pass.
	n := 0
	for n < len(line) && tokenChars[line[n]] {
		n++
	}
	colon := n
	for colon < len(line) && (line[colon] == ' ' || line[colon] == '\t') {
		colon++
	}
	if n == 0 || colon == len(line) || line[colon] != ':' {
		return 0, ErrHeader
	}
	h := headerOf(line[:n])
	if h == hdrOther {
		return 0, nil
	}
	v := trimSpace(line[colon+1:])
	switch h {
	case hdrFrom, hdrTo:
		bit := hTo
		if h == hdrFrom {
			bit = hFrom
		}
		if seen&bit != 0 {
			return bit, nil
		}
		user, tag, err := nameAddr(v)
		if err != nil {
			return 0, err
		}
		if h == hdrFrom {
			m.FromUser, m.FromTag = user, tag
		} else {
			m.ToUser, m.ToTag = user, tag
		}
		return bit, nil
	case hdrCallID:
		if len(v) == 0 {
			return 0, ErrValue
		}
		if seen&hCallID == 0 {
			m.CallID = v
		}
		return hCallID, nil
	case hdrCSeq:
		if seen&hCSeq != 0 {
			return hCSeq, nil
		}
		return hCSeq, parseCSeq(v, m)
	case hdrVia:
		if seen&hVia == 0 {
			if err := parseVia(v, m); err != nil {
				return 0, err
			}
		}
		return hVia, nil
	case hdrUserAgent:
		m.UserAgent = v
	case hdrServer:
		m.Server = v
	case hdrContact:
		if m.Contact == nil {
			m.Contact = v
		}
	case hdrAuthorization:
		m.Credentials, m.CredentialsUser = Authorization, authParam(v, "username")
	case hdrProxyAuthorization:
		if m.Credentials == NoCredentials {
			m.Credentials, m.CredentialsUser = ProxyAuthorization, authParam(v, "username")
		}
	case hdrChallenge:
		if equalFold(authParam(v, "stale"), "true") {
			m.Stale = true
		}
	case hdrExpires:
		if n, ok := atoi(v); ok {
			m.Expires = n
		}
	case hdrContentLength:
		n, ok := atoi(v)
		if !ok {
			return 0, ErrValue
		}
		m.ContentLength = n
	}
	return 0, nil
}

func parseCSeq(v []byte, m *Message) error {
	i := 0
	var n uint64
	for ; i < len(v) && v[i] >= '0' && v[i] <= '9'; i++ {
		n = n*10 + uint64(v[i]-'0')
		if n > 1<<31-1 { // RFC 3261: less than 2**31
			return ErrValue
		}
	}
	if i == 0 || i == len(v) || !isSpace(v[i]) {
		return ErrValue
	}
	method := trimSpace(v[i:])
	if !isToken(method) {
		return ErrValue
	}
	m.CSeq = uint32(n)
	if m.Request {
		if !bytes.Equal(method, m.MethodName) {
			return ErrValue
		}
	} else {
		m.MethodName, m.Method = method, methodOf(method)
	}
	return nil
}

// parseVia reads the top Via: "SIP/2.0/UDP host:port;branch=…".
func parseVia(v []byte, m *Message) error {
	if i := bytes.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	if !hasPrefixFold(v, "sip/2.0/") {
		return ErrValue
	}
	rest := v[len("sip/2.0/"):]
	i := 0
	for i < len(rest) && !isSpace(rest[i]) {
		i++
	}
	if i == 0 {
		return ErrValue
	}
	rest = trimSpace(rest[i:])
	end := bytes.IndexByte(rest, ';')
	if end < 0 {
		end = len(rest)
	}
	sentBy := trimSpace(rest[:end])
	if len(sentBy) == 0 {
		return ErrValue
	}
	m.ViaSentBy = sentBy
	m.ViaBranch = param(rest[end:], "branch")
	return nil
}

// nameAddr reads a From or To value — `"Name" <sip:user@host>;tag=x` or
// `sip:user@host;tag=x` — and returns the URI's user and the tag.
func nameAddr(v []byte) (user, tag []byte, err error) {
	if len(v) > 0 && v[0] == '"' {
		i := 1
		for ; i < len(v) && v[i] != '"'; i++ {
			if v[i] == '\\' {
				i++
			}
		}
		if i >= len(v) {
			return nil, nil, ErrValue
		}
		v = v[i+1:]
	}
	var uri, params []byte
	if lt := bytes.IndexByte(v, '<'); lt >= 0 {
		gt := bytes.IndexByte(v[lt:], '>')
		if gt < 0 {
			return nil, nil, ErrValue
		}
		uri, params = v[lt+1:lt+gt], v[lt+gt+1:]
	} else {
		semi := bytes.IndexByte(v, ';')
		if semi < 0 {
			semi = len(v)
		}
		uri, params = trimSpace(v[:semi]), v[semi:]
	}
	if bytes.IndexByte(uri, ':') <= 0 {
		return nil, nil, ErrValue
	}
	return uriUser(uri), param(params, "tag"), nil
}

// uriUser returns the user part of a SIP or tel URI, nil if it has none.
func uriUser(uri []byte) []byte {
	colon := bytes.IndexByte(uri, ':')
	if colon < 0 {
		return nil
	}
	scheme, rest := uri[:colon], uri[colon+1:]
	if equalFold(scheme, "tel") {
		if semi := bytes.IndexByte(rest, ';'); semi >= 0 {
			rest = rest[:semi]
		}
		return nonEmpty(rest)
	}
	at := bytes.IndexByte(rest, '@')
	if at < 0 {
		return nil
	}
	user := rest[:at]
	if c := bytes.IndexByte(user, ':'); c >= 0 { // user:password@host
		user = user[:c]
	}
	return nonEmpty(user)
}

// param finds a ;name=value parameter (name in lower case) in a
// parameter list such as ";tag=x;lr" and returns its value, unquoted.
func param(params []byte, name string) []byte {
	for len(params) > 0 {
		semi := bytes.IndexByte(params, ';')
		if semi < 0 {
			return nil
		}
		params = params[semi+1:]
		end := bytes.IndexByte(params, ';')
		if end < 0 {
			end = len(params)
		}
		if k, v, ok := keyValue(params[:end]); ok && equalFold(k, name) {
			return unquote(v)
		}
	}
	return nil
}

// authParam finds a name=value parameter of a credentials or challenge
// header: `Digest username="1001", realm="pbx", …`.
func authParam(v []byte, name string) []byte {
	for i, c := range v { // skip the scheme
		if c == ' ' || c == '\t' {
			v = v[i+1:]
			break
		}
	}
	for len(v) > 0 {
		end := nextComma(v)
		if k, val, ok := keyValue(v[:end]); ok && equalFold(k, name) {
			return unquote(val)
		}
		if end == len(v) {
			break
		}
		v = v[end+1:]
	}
	return nil
}

// nextComma returns the index of the first comma outside quotes, or len(v).
func nextComma(v []byte) int {
	quoted := false
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				return i
			}
		}
	}
	return len(v)
}

func keyValue(p []byte) (k, v []byte, ok bool) {
	eq := bytes.IndexByte(p, '=')
	if eq < 0 {
		return trimSpace(p), nil, false
	}
	return trimSpace(p[:eq]), trimSpace(p[eq+1:]), true
}

func unquote(v []byte) []byte {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

func nonEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func atoi(v []byte) (int, bool) {
	if len(v) == 0 || len(v) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// lowerTable maps every byte to its ASCII lower case.
var lowerTable = func() (t [256]byte) {
	for i := range t {
		t[i] = byte(i)
		if i >= 'A' && i <= 'Z' {
			t[i] = byte(i) + 'a' - 'A'
		}
	}
	return t
}()

func lower(c byte) byte { return lowerTable[c] }

// equalFold compares b with s (in lower case), ignoring ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		if lowerTable[b[i]] != s[i] {
			return false
		}
	}
	return true
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && equalFold(b[:len(prefix)], prefix)
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// tokenChars are the characters of an RFC 3261 token.
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "-.!%*_+`'~" {
		t[c] = true
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChars[c] {
			return false
		}
	}
	return true
}

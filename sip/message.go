package sip

// Method is a SIP request method.
type Method uint8

// The methods the parser recognises; anything else is MethodOther, with its
// name in Message.MethodName.
const (
	MethodOther Method = iota
	INVITE
	ACK
	BYE
	CANCEL
	REGISTER
	OPTIONS
	PRACK
	SUBSCRIBE
	NOTIFY
	PUBLISH
	INFO
	REFER
	MESSAGE
	UPDATE
)

var methodNames = [...]string{"", "INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "PRACK", "SUBSCRIBE", "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE"}

func (m Method) String() string {
	if int(m) < len(methodNames) && m != MethodOther {
		return methodNames[m]
	}
	return "other"
}

// methodOf recognises a method name (case-sensitive, as RFC 3261 says).
func methodOf(b []byte) Method {
	switch string(b) {
	case "INVITE":
		return INVITE
	case "ACK":
		return ACK
	case "BYE":
		return BYE
	case "CANCEL":
		return CANCEL
	case "REGISTER":
		return REGISTER
	case "OPTIONS":
		return OPTIONS
	case "PRACK":
		return PRACK
	case "SUBSCRIBE":
		return SUBSCRIBE
	case "NOTIFY":
		return NOTIFY
	case "PUBLISH":
		return PUBLISH
	case "INFO":
		return INFO
	case "REFER":
		return REFER
	case "MESSAGE":
		return MESSAGE
	case "UPDATE":
		return UPDATE
	}
	return MethodOther
}

// Credentials says which credentials header a request carries.
type Credentials uint8

const (
	NoCredentials Credentials = iota
	Authorization
	ProxyAuthorization
)

// Message is one parsed SIP message. Its byte slices point into the buffer
// given to Parse and are valid as long as that buffer is; a field that the
// message does not have is nil (numbers: -1 where noted).
type Message struct {
	// Request is true for a request, false for a response.
	Request bool

	// Method is the request's method; for a response, the method of its
	// CSeq (what it answers).
	Method     Method
	MethodName []byte // as written on the request line, or in CSeq
	RequestURI []byte
	URIUser    []byte // user part of the Request-URI (the extension dialled)

	Status int    // response status code, 100-699
	Reason []byte // response reason phrase

	FromUser, FromTag []byte
	ToUser, ToTag     []byte
	CallID            []byte
	CSeq              uint32
	ViaBranch         []byte // branch parameter of the top Via
	ViaSentBy         []byte // host[:port] of the top Via

	UserAgent []byte
	Server    []byte
	Contact   []byte // first Contact value, nil if none

	// Credentials and CredentialsUser: the Authorization or
	// Proxy-Authorization header and its username.
	Credentials     Credentials
	CredentialsUser []byte
	// Stale is true when a 401/407's challenge says stale=true: the
	// credentials were right but the nonce had expired.
	Stale bool

	Expires       int // -1 if absent
	ContentLength int // -1 if absent

	// BodyOffset is where the body starts in the buffer (after the blank
	// line ending the headers).
	BodyOffset int
}

func (m *Message) reset() {
	*m = Message{Expires: -1, ContentLength: -1}
}

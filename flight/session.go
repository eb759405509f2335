package flight

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/flight"
	flightproto "github.com/apache/arrow-go/v18/arrow/flight/gen/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Flight SQL sessions. A session begins when a client sets an option;
// its id then travels in the arrow_flight_session_id cookie, which the
// cookie middleware of Flight clients (ADBC's, the JDBC driver's) sends
// back on every call. Prepared statements, tickets and transactions made
// inside a session belong to it: CloseSession ends them, and no other
// session of the same user can use them. Calls without the cookie work
// as before, bound to the authenticated user.
//
// The options are the ones clients ask for: "catalog" (always "", since
// SQLite has no catalogs), "schema" (always "main") and "read_only", a
// switch a superuser can turn on to make the session refuse every write.
// A read-only account cannot turn it off.

// sessionCookie is the cookie name Flight SQL clients expect.
const sessionCookie = "arrow_flight_session_id"

// maxSessionsPerUser bounds the sessions one account may hold, so a
// client that never sends its cookie back cannot grow the store.
const maxSessionsPerUser = 64

// Session option names.
const (
	optionCatalog  = "catalog"
	optionSchema   = "schema"
	optionReadOnly = "read_only"
)

// session is the server-side state of one Flight SQL session.
type session struct {
	id       string
	userID   string
	readOnly bool
	lastUsed time.Time
}

// sessionStore holds the live sessions; a session unused for longer than
// idle is forgotten.
type sessionStore struct {
	idle time.Duration

	mu sync.Mutex
	m  map[string]*session
}

func newSessionStore(idle time.Duration) *sessionStore {
	return &sessionStore{idle: idle, m: map[string]*session{}}
}

// attach sets ident.sessionID when the call's cookie names a live session
// of the same user, and applies the session's read_only option. A cookie
// for an unknown, expired or foreign session is ignored.
func (ss *sessionStore) attach(ctx context.Context, ident identity) identity {
	id := sessionIDFromCookies(ctx)
	if id == "" {
		return ident
	}

	ss.mu.Lock()
	defer ss.mu.Unlock()

	sess, ok := ss.m[id]
	if !ok || sess.userID != ident.userID {
		return ident
	}
	if time.Since(sess.lastUsed) > ss.idle {
		delete(ss.m, id)
		return ident
	}

	sess.lastUsed = time.Now()
	ident.sessionID = id
	if sess.readOnly && !ident.readOnly {
		ident.readOnly = true
		ident.readOnlyBySession = true
	}
	return ident
}

// create starts a session for userID, first dropping expired sessions.
func (ss *sessionStore) create(userID string) (*session, error) {
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return nil, status.Errorf(codes.Internal, "generating session id: %v", err)
	}

	ss.mu.Lock()
	defer ss.mu.Unlock()

	now := time.Now()
	held := 0
	for id, sess := range ss.m {
		if now.Sub(sess.lastUsed) > ss.idle {
			delete(ss.m, id)
			continue
		}
		if sess.userID == userID {
			held++
		}
	}
	if held >= maxSessionsPerUser {
		return nil, status.Errorf(codes.ResourceExhausted,
			"this account already has %d open Flight SQL sessions; close some with CloseSession", held)
	}

	sess := &session{id: hex.EncodeToString(raw), userID: userID, lastUsed: now}
	ss.m[sess.id] = sess
	return sess, nil
}

// lookup returns the caller's live session, if the call carries one.
func (ss *sessionStore) lookup(ident identity) (*session, bool) {
	if ident.sessionID == "" {
		return nil, false
	}

	ss.mu.Lock()
	defer ss.mu.Unlock()

	sess, ok := ss.m[ident.sessionID]
	return sess, ok
}

// setReadOnly switches a session's read_only option.
func (ss *sessionStore) setReadOnly(sess *session, on bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()

	sess.readOnly = on
}

// remove forgets a session.
func (ss *sessionStore) remove(id string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()

	delete(ss.m, id)
}

// sessionIDFromCookies reads the session cookie from the call's metadata.
func sessionIDFromCookies(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, line := range md.Get("cookie") {
		cookies, err := http.ParseCookie(line)
		if err != nil {
			continue
		}
		for _, c := range cookies {
			if c.Name == sessionCookie {
				return c.Value
			}
		}
	}
	return ""
}

// SetSessionOptions validates and stores session options, starting a
// session (and sending its cookie) when the call has none. Each refused
// option is reported by name; the others are still set.
func (s *Server) SetSessionOptions(ctx context.Context, req *flight.SetSessionOptionsRequest) (*flight.SetSessionOptionsResult, error) {
	ident, ok := identityFrom(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "not authenticated")
	}

	result := &flight.SetSessionOptionsResult{Errors: map[string]*flight.SetSessionOptionsResultError{}}
	refuse := func(name string, why flightproto.SetSessionOptionsResult_ErrorValue) {
		result.Errors[name] = &flight.SetSessionOptionsResultError{Value: why}
	}

	var readOnly *bool
	for name, value := range req.GetSessionOptions() {
		// A value of nil asks to reset the option to its default.
		switch name {
		case optionCatalog:
			switch v := value.GetOptionValue().(type) {
			case nil:
			case *flightproto.SessionOptionValue_StringValue:
				if v.StringValue != "" {
					refuse(name, flight.SetSessionOptionsResultErrorInvalidValue)
				}
			default:
				refuse(name, flight.SetSessionOptionsResultErrorInvalidValue)
			}

		case optionSchema:
			switch v := value.GetOptionValue().(type) {
			case nil:
			case *flightproto.SessionOptionValue_StringValue:
				if !strings.EqualFold(v.StringValue, dbSchemaName) {
					refuse(name, flight.SetSessionOptionsResultErrorInvalidValue)
				}
			default:
				refuse(name, flight.SetSessionOptionsResultErrorInvalidValue)
			}

		case optionReadOnly:
			want := false
			switch v := value.GetOptionValue().(type) {
			case nil:
			case *flightproto.SessionOptionValue_BoolValue:
				want = v.BoolValue
			default:
				refuse(name, flight.SetSessionOptionsResultErrorInvalidValue)
				continue
			}
			if !want && ident.readOnly && !ident.readOnlyBySession {
				// A reader account cannot write, whatever its session says.
				refuse(name, flight.SetSessionOptionsResultErrorInvalidValue)
				continue
			}
			readOnly = &want

		default:
			refuse(name, flight.SetSessionOptionsResultErrorInvalidName)
		}
	}

	sess, ok := s.sessions.lookup(ident)
	if !ok {
		var err error
		if sess, err = s.sessions.create(ident.userID); err != nil {
			return nil, err
		}
		cookie := (&http.Cookie{Name: sessionCookie, Value: sess.id}).String()
		if err := grpc.SetHeader(ctx, metadata.Pairs("set-cookie", cookie)); err != nil {
			s.sessions.remove(sess.id)
			return nil, status.Errorf(codes.Internal, "sending the session cookie: %v", err)
		}
		s.logger.Info("flight session started", "user", ident.email)
	}

	if readOnly != nil {
		s.sessions.setReadOnly(sess, *readOnly)
	}
	return result, nil
}

// GetSessionOptions returns the options of the caller's session, or the
// defaults when the call carries no session.
func (s *Server) GetSessionOptions(ctx context.Context, _ *flight.GetSessionOptionsRequest) (*flight.GetSessionOptionsResult, error) {
	ident, ok := identityFrom(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "not authenticated")
	}

	options, err := flight.NewSessionOptionValues(map[string]any{
		optionCatalog:  "",
		optionSchema:   dbSchemaName,
		optionReadOnly: ident.readOnly,
	})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encoding session options: %v", err)
	}
	return &flight.GetSessionOptionsResult{SessionOptions: options}, nil
}

// CloseSession ends the caller's session: its open transactions roll
// back, its prepared statements and tickets are dropped, and its cookie
// is cleared.
func (s *Server) CloseSession(ctx context.Context, _ *flight.CloseSessionRequest) (*flight.CloseSessionResult, error) {
	ident, ok := identityFrom(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "not authenticated")
	}

	if _, ok := s.sessions.lookup(ident); !ok {
		return &flight.CloseSessionResult{Status: flight.CloseSessionResultNotCloseable}, nil
	}

	s.sessions.remove(ident.sessionID)
	owner := ident.owner()
	s.txns.endOwned(owner, "the transaction's session was closed")
	s.prepared.dropOwned(owner)
	s.stmts.dropOwned(owner)

	expired := (&http.Cookie{Name: sessionCookie, Value: "", MaxAge: -1}).String()
	_ = grpc.SetHeader(ctx, metadata.Pairs("set-cookie", expired))

	s.logger.Info("flight session closed", "user", ident.email)
	return &flight.CloseSessionResult{Status: flight.CloseSessionResultClosed}, nil
}

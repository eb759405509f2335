package flight

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/security"
	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/arrow-mino/arrow-mino/internal/allowlist"
)

// basicCacheTTL is how long a successful Basic check is remembered.
// bcrypt costs tens of milliseconds and the database/sql driver sends
// Basic credentials on every call; a short TTL bounds how long a changed
// password keeps working for an already-checked client.
const basicCacheTTL = 30 * time.Second

// basicCacheMax caps the cache so random credentials cannot grow it.
const basicCacheMax = 1024

// identity is the authenticated caller of one gRPC call.
type identity struct {
	// userID is the superuser record id; statement handles are bound to it.
	userID string
	// email is for logs.
	email string
	// token is a bearer token for this caller, set on Handshake calls only.
	token string
	// readOnly is set for non-superuser auth records admitted by
	// Options.AllowReadOnlyRole: they may query but never write. A
	// session with the read_only option sets it too (session.go).
	readOnly bool
	// readOnlyBySession marks a writer whose session turned read_only on.
	readOnlyBySession bool
	// sessionID is the caller's Flight SQL session, when its cookie names
	// one of this user's live sessions (session.go).
	sessionID string
	// connection numbers the gRPC connection of the call (connections.go).
	connection uint64
}

// implicitConnection is the connection whose end releases the work this
// caller opens: its own, unless a cookie session holds that work.
func (id identity) implicitConnection() uint64 {
	if id.sessionID != "" {
		return 0
	}
	return id.connection
}

// owner is who prepared statements, tickets and transactions belong to:
// the user, or the user's session when the call carries one.
func (id identity) owner() string {
	if id.sessionID == "" {
		return id.userID
	}
	return id.userID + "\x00" + id.sessionID
}

type identityKey struct{}

// identityFrom returns the caller stored by the auth interceptors.
func identityFrom(ctx context.Context) (identity, bool) {
	id, ok := ctx.Value(identityKey{}).(identity)
	return id, ok
}

func bearerHeader(token string) metadata.MD {
	return metadata.Pairs("authorization", "Bearer "+token)
}

// authenticator checks PocketBase superuser credentials on every call.
type authenticator struct {
	app    core.App
	logger *slog.Logger

	// allowReadOnly admits non-superuser auth records as readers.
	allowReadOnly bool

	// sessions resolves the session cookie of authenticated calls.
	sessions *sessionStore

	// cacheKey keys the HMAC of cached credentials, so the cache holds
	// nothing that could be replayed or brute-forced offline.
	cacheKey []byte

	mu    sync.Mutex
	cache map[[32]byte]cachedBasic

	// checking shares one password check among concurrent calls with the
	// same credentials.
	checking singleflight.Group
}

type cachedBasic struct {
	userID   string
	email    string
	readOnly bool
	expires  time.Time
}

func newAuthenticator(app core.App, logger *slog.Logger, allowReadOnly bool, sessions *sessionStore) *authenticator {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		// crypto/rand does not fail on supported platforms; a fixed key
		// would only weaken the cache, so refuse to run instead.
		panic("flight: reading random cache key: " + err.Error())
	}

	return &authenticator{app: app, logger: logger, allowReadOnly: allowReadOnly, sessions: sessions, cacheKey: key, cache: map[[32]byte]cachedBasic{}}
}

// unary authenticates a unary call and stores the identity in its context.
func (a *authenticator) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ident, err := a.authenticate(ctx, false)
	if err != nil {
		a.logger.Warn("flight auth failed", "method", info.FullMethod, "error", err)
		return nil, err
	}
	ident = a.sessions.attach(ctx, ident)
	ident.connection = connectionID(ctx)

	return handler(context.WithValue(ctx, identityKey{}, ident), req)
}

// stream authenticates a streaming call. On Handshake, Basic credentials
// are exchanged for a fresh bearer token and a Bearer token is echoed.
func (a *authenticator) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	handshake := strings.HasSuffix(info.FullMethod, "/Handshake")

	ident, err := a.authenticate(ss.Context(), handshake)
	if err != nil {
		a.logger.Warn("flight auth failed", "method", info.FullMethod, "error", err)
		return err
	}
	ident = a.sessions.attach(ss.Context(), ident)
	ident.connection = connectionID(ss.Context())

	return handler(srv, &identityStream{ServerStream: ss, ctx: context.WithValue(ss.Context(), identityKey{}, ident)})
}

type identityStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *identityStream) Context() context.Context { return s.ctx }

// authenticate reads the authorization header. wantToken asks for a
// bearer token in the identity (Handshake).
func (a *authenticator) authenticate(ctx context.Context, wantToken bool) (identity, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get("authorization")
	if len(values) == 0 || strings.TrimSpace(values[0]) == "" {
		return identity{}, status.Error(codes.Unauthenticated, "missing authorization header: use Basic superuser credentials or a Bearer token")
	}

	scheme, cred, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	cred = strings.TrimSpace(cred)

	var id identity
	var err error
	switch strings.ToLower(scheme) {
	case "bearer":
		id, err = a.checkBearer(cred)
	case "basic":
		id, err = a.checkBasic(cred, wantToken)
	default:
		return identity{}, status.Error(codes.Unauthenticated, "unsupported authorization scheme: use Basic or Bearer")
	}
	if err != nil {
		return identity{}, err
	}

	if !id.readOnly && !a.superuserIPAllowed(ctx) {
		return identity{}, status.Error(codes.PermissionDenied,
			"superuser connections from this address are not in PocketBase's superuser IP allow-list")
	}
	return id, nil
}

// superuserIPAllowed applies PocketBase's superuser IP allow-list (an
// empty list allows every address) to the caller's address, as
// PocketBase's own API does for superuser requests.
func (a *authenticator) superuserIPAllowed(ctx context.Context) bool {
	caller, ok := peer.FromContext(ctx)
	if !ok || caller.Addr == nil {
		return false
	}
	addrPort, err := netip.ParseAddrPort(caller.Addr.String())
	return err == nil && allowlist.SuperuserAllowed(a.app, addrPort.Addr())
}

// checkBearer validates a PocketBase auth token that must belong to a
// superuser (or a reader, when allowed). The token is echoed so a token
// Handshake succeeds. A validated token is remembered under its HMAC for
// at most basicCacheTTL and never past its own expiry.
func (a *authenticator) checkBearer(token string) (identity, error) {
	if token == "" {
		return identity{}, status.Error(codes.Unauthenticated, "empty bearer token")
	}

	key := a.tokenKey(token)
	if hit, ok := a.cached(key); ok {
		return identity{userID: hit.userID, email: hit.email, token: token, readOnly: hit.readOnly}, nil
	}

	record, err := a.app.FindAuthRecordByToken(token, core.TokenTypeAuth)
	if err != nil || record == nil {
		return identity{}, status.Error(codes.Unauthenticated, "invalid or expired bearer token")
	}

	ident := identity{userID: record.Id, email: record.Email(), token: token}
	if !record.IsSuperuser() {
		if !a.allowReadOnly {
			return identity{}, status.Error(codes.Unauthenticated, "bearer token does not belong to a superuser")
		}
		ident.userID = record.Collection().Id + "/" + record.Id
		ident.readOnly = true
	}

	if expires, ok := tokenExpiry(token); ok {
		if limit := time.Now().Add(basicCacheTTL); limit.Before(expires) {
			expires = limit
		}
		a.remember(key, cachedBasic{
			userID: ident.userID, email: ident.email, readOnly: ident.readOnly, expires: expires,
		})
	}

	return ident, nil
}

// tokenExpiry reads the exp claim of a token that was already verified.
func tokenExpiry(token string) (time.Time, bool) {
	claims, err := security.ParseUnverifiedJWT(token)
	if err != nil {
		return time.Time{}, false
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return time.Time{}, false
	}
	return exp.Time, true
}

// tokenKey keys a bearer token in the cache; the prefix keeps it apart
// from Basic credential keys.
func (a *authenticator) tokenKey(token string) [32]byte {
	mac := hmac.New(sha256.New, a.cacheKey)
	mac.Write([]byte("bearer\x00"))
	mac.Write([]byte(token))

	var key [32]byte
	copy(key[:], mac.Sum(nil))
	return key
}

// checkBasic validates base64(email:password) against _superusers, using
// the short-lived cache of successful checks.
func (a *authenticator) checkBasic(encoded string, wantToken bool) (identity, error) {
	email, password, err := decodeBasic(encoded)
	if err != nil {
		return identity{}, err
	}

	key := a.credentialKey(email, password)
	if !wantToken {
		if hit, ok := a.cached(key); ok {
			return identity{userID: hit.userID, email: hit.email, readOnly: hit.readOnly}, nil
		}
	}

	// Clients open several connections at once with the same credentials;
	// they share one password check (bcrypt is slow by design).
	found, err, _ := a.checking.Do(string(key[:]), func() (any, error) {
		record, err := a.app.FindAuthRecordByEmail(core.CollectionNameSuperusers, email)
		if (err != nil || record == nil) && a.allowReadOnly {
			record = a.findReader(email)
		}
		if record == nil || !record.ValidatePassword(password) {
			// One message for unknown email and wrong password: no user probing.
			return nil, status.Error(codes.Unauthenticated, "invalid superuser email or password")
		}
		return record, nil
	})
	if err != nil {
		return identity{}, err
	}
	record := found.(*core.Record)

	ident := identity{userID: record.Id, email: record.Email()}
	if !record.IsSuperuser() {
		// Namespaced so a reader's id can never equal a superuser's.
		ident.userID = record.Collection().Id + "/" + record.Id
		ident.readOnly = true
	}

	a.remember(key, cachedBasic{userID: ident.userID, email: ident.email, readOnly: ident.readOnly, expires: time.Now().Add(basicCacheTTL)})

	if wantToken {
		token, err := record.NewAuthToken()
		if err != nil {
			a.logger.Error("creating flight auth token", "error", err)
			return identity{}, status.Error(codes.Internal, "could not create auth token")
		}
		ident.token = token
	}

	return ident, nil
}

// findReader looks email up in every non-superuser auth collection.
func (a *authenticator) findReader(email string) *core.Record {
	collections, err := a.app.FindAllCollections(core.CollectionTypeAuth)
	if err != nil {
		return nil
	}
	for _, c := range collections {
		if c.Name == core.CollectionNameSuperusers {
			continue
		}
		if r, err := a.app.FindAuthRecordByEmail(c, email); err == nil && r != nil {
			return r
		}
	}
	return nil
}

// decodeBasic accepts padded and unpadded base64: arrow-go's
// AuthenticateBasicToken sends the unpadded form.
func decodeBasic(encoded string) (email, password string, err error) {
	raw, decErr := base64.StdEncoding.DecodeString(encoded)
	if decErr != nil {
		raw, decErr = base64.RawStdEncoding.DecodeString(encoded)
	}
	if decErr != nil {
		return "", "", status.Error(codes.Unauthenticated, "malformed Basic credentials: not base64")
	}

	email, password, ok := strings.Cut(string(raw), ":")
	if !ok || email == "" {
		return "", "", status.Error(codes.Unauthenticated, "malformed Basic credentials: want email:password")
	}

	return email, password, nil
}

func (a *authenticator) credentialKey(email, password string) [32]byte {
	mac := hmac.New(sha256.New, a.cacheKey)
	mac.Write([]byte(email))
	mac.Write([]byte{0})
	mac.Write([]byte(password))

	var key [32]byte
	copy(key[:], mac.Sum(nil))
	return key
}

func (a *authenticator) cached(key [32]byte) (cachedBasic, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()

	hit, ok := a.cache[key]
	if !ok {
		return cachedBasic{}, false
	}
	if time.Now().After(hit.expires) {
		delete(a.cache, key)
		return cachedBasic{}, false
	}
	return hit, true
}

func (a *authenticator) remember(key [32]byte, entry cachedBasic) {
	a.mu.Lock()
	defer a.mu.Unlock()

	// Drop expired entries first; if still full, start over rather than
	// track recency: a cache miss only costs one bcrypt check.
	if len(a.cache) >= basicCacheMax {
		now := time.Now()
		for k, v := range a.cache {
			if now.After(v.expires) {
				delete(a.cache, k)
			}
		}
		if len(a.cache) >= basicCacheMax {
			clear(a.cache)
		}
	}

	a.cache[key] = entry
}

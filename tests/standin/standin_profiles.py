"""What differs between the five real servers the stand-in plays (profiles G, A, W, B, B0).

Every fact names the code it was read from, as PROFILE:path:line with the path relative to the
profile's Java root (README.md "Profiles" gives the commits):
  G  grimmory-tools/grimmory develop 4bd45423d153, backend/src/main/java/org/booklore/
  A  the-booklore/booklore develop dc4b74d1499e, booklore-api/src/main/java/org/booklore/
  W  grimmory-tools/grimmory ref wt-fork 28e800fd64e6, booklore-api/src/main/java/org/booklore/
  B  the-booklore/booklore refs/pull/2298/head 997f75fb95b4, booklore-api/...
  B0 the-booklore/booklore refs/pull/2675/head 86eeb6975104, booklore-api/...
"""

# JwtAuthenticationFilter skips these prefixes in A, W, B, B0
# (A:config/security/filter/JwtAuthenticationFilter.java:33-39).
JWT_IGNORED = ("/api/v1/opds/", "/api/v2/opds/", "/api/v1/auth/refresh", "/api/v1/setup/",
               "/api/kobo/")
# permitAll of the JWT chain in A, W, B, B0 (A:config/security/SecurityConfig.java:50-57,
# W:config/security/SecurityConfig.java:58-65).
PERMIT_ALL = ("/api/v1/auth", "/api/v1/public-settings", "/api/v1/setup", "/api/v1/healthcheck")
# G keeps its public paths out of the JWT chain altogether (G:config/security/SecurityConfig.java
# :55-67 and :265-277); "/x/**" also matches "/x" itself.
G_PUBLIC_EXACT = ("/api/docs", "/api/openapi.json", "/api/v1/auth/login", "/api/v1/auth/refresh",
                  "/api/v1/auth/remote", "/api/v1/public-settings", "/api/v1/setup",
                  "/api/v1/opds", "/api/v2/opds", "/api/kobo")
G_PUBLIC_TREES = ("/api/v1/auth/oidc", "/api/v1/setup", "/api/v1/healthcheck", "/api/v1/opds",
                  "/api/v2/opds", "/api/kobo")
SESSION_POSTS = ("/api/v1/reading-sessions", "/api/v1/reading-sessions/batch")


def under(path, tree):
    """Spring's "/tree/**": the tree itself and everything below it."""
    return path == tree or path.startswith(tree + "/")


class Profile:
    """One server's security and endpoint differences; see the module doc for the references."""

    def __init__(self, name, **facts):
        self.name = name
        # 401 in G (AuthenticationCheckFilter sendError, G:config/security/filter/
        # AuthenticationCheckFilter.java:23-25); 403 from Spring's default entry point elsewhere.
        self.unauthenticated = facts.get("unauthenticated", 403)
        # "strict": a bad Bearer answers 401 with an empty body (A/W:...JwtAuthenticationFilter
        # .java:57-69); "lenient": it is ignored and the request stays anonymous
        # (G:config/security/filter/JwtAuthenticationFilter.java:48-57; B0 likewise).
        self.jwt = facts.get("jwt", "strict")
        # A, W, B register their filters as plain @Component servlet filters too, so a bad
        # Bearer also fails requests that another chain let through (/api/koreader/**, the SPA);
        # G disables that (@FilterRegistration(enabled = false), G:...KoreaderAuthFilter.java:27).
        self.servlet_jwt = facts.get("servlet_jwt", True)
        self.batch = facts.get("batch", False)
        self.batch_max = facts.get("batch_max")  # B: @Size(max = 1000); W, B0: no limit
        self.batch_location_check = facts.get("batch_location_check", False)
        self.by_hash = facts.get("by_hash", False)
        # A book outside the user's libraries: None (no check), 404 (B) or 403 (W).
        self.book_access = facts.get("book_access")
        # GET /api/v1/reading-sessions/book/{id}: @Max(size), None = no check at all (B0).
        self.sessions_max = facts.get("sessions_max", 100)
        self.type_mismatch_400 = facts.get("type_mismatch_400", False)
        self.login_answer = facts.get("login_answer", "map")
        self.token_ttl = facts.get("token_ttl", 36000)  # JwtUtils accessTokenExpirationMs / 1000
        self.clock_skew = facts.get("clock_skew", 0)
        self.limit_by_user = facts.get("limit_by_user", True)
        # GET /api/v1/books/search: "fuzzy" (W, B0) or "exact" (B: an ISBN query in the DB,
        # B:service/book/BookService.java:545-568, B:repository/BookRepository.java:105-111).
        self.book_search = facts.get("book_search")
        self.app_books = facts.get("app_books", False)

    def chain(self, method, path):
        """(credential filters in order, public) of the security chain this request meets."""
        return getattr(self, "_chain_" + self.name)(method, path)

    @staticmethod
    def _chain_G(method, path):
        if under(path, "/api/koreader"):
            return ("ko",), False  # G:config/security/SecurityConfig.java:125-136
        public = path in G_PUBLIC_EXACT or any(under(path, t) for t in G_PUBLIC_TREES)
        if (path.startswith("/api/") or under(path, "/komga")) and not public:
            return ("jwt",), False  # G:config/security/SecurityConfig.java:257-306
        return (), True  # staticResourcesSecurityChain, G:...SecurityConfig.java:308-322

    @staticmethod
    def _chain_A(method, path):
        if under(path, "/api/koreader"):
            return ("ko",), False  # A:config/security/SecurityConfig.java:116-125
        if path.startswith(("/api/", "/komga/", "/ws/")):
            return ("jwt",), any(under(path, p) for p in PERMIT_ALL)  # A:...:204-224
        return (), True

    @staticmethod
    def _chain_W(method, path):
        if under(path, "/api/koreader"):
            return ("ko",), False  # W:config/security/SecurityConfig.java:123-133
        if path.startswith(("/api/", "/komga/", "/ws/")):
            # The KOReader filter runs in the API chain too but acts only on these URIs
            # (W:config/security/filter/KoreaderAuthFilter.java:32; SecurityConfig.java:233-234).
            filters = ("ko", "jwt") if path.startswith("/api/v1/reading-sessions") else ("jwt",)
            return filters, any(under(path, p) for p in PERMIT_ALL)
        return (), True

    @staticmethod
    def _chain_B(method, path):
        if method == "POST" and path in SESSION_POSTS:
            return ("ko", "jwt"), False  # B:config/security/SecurityConfig.java:116-131
        return Profile._chain_A(method, path)

    @staticmethod
    def _chain_B0(method, path):
        if under(path, "/api/koreader") or path == "/api/v1/reading-sessions":
            return ("ko",), False  # B0:config/security/SecurityConfig.java:112-121
        return Profile._chain_A(method, path)


PROFILES = {
    "G": Profile("G", unauthenticated=401, jwt="lenient", servlet_jwt=False,
                 login_answer="G", token_ttl=7200, clock_skew=60, app_books=True),
    "A": Profile("A"),
    "W": Profile("W", batch=True, batch_location_check=True, by_hash=True, book_access=403,
                 sessions_max=10000, type_mismatch_400=True, book_search="fuzzy"),
    "B": Profile("B", batch=True, batch_max=1000, batch_location_check=True, by_hash=True,
                 book_access=404, book_search="exact"),
    "B0": Profile("B0", jwt="lenient", servlet_jwt=False, batch=True, by_hash=True,
                  sessions_max=None, limit_by_user=False, book_search="fuzzy"),
}
NAMES = tuple(PROFILES)

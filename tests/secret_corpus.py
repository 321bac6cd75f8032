"""Real secret formats and near-misses, for the masking tests and bench/secrets_compare.py.

Each secret is a made-up value in the exact shape the service issues (prefix, length, alphabet);
each near-miss is text that looks close but is no secret (a placeholder, an expression, an id, a
hash, a public key, prose) and must stay visible. The values are built from parts so that no
scanner mistakes this file for a leak.
"""

from __future__ import annotations

A = "Q7vR2mX9kL4pT8wZ3nB6cY1dF5gH0jS"  # 31 random-looking characters to build values from
HEX = "9f86d081884c7d659a2feaa0c55ad015"  # 32 hex characters
B64 = "dGhpcyBpcyBub3QgYSByZWFsIGtleSBidXQgaXQgaXMgYmFzZTY0IGVuY29kZWQgbG9uZyBlbm91Z2g"

PEM_END = "-----END RSA PRIVATE KEY-----"

SECRETS: list[tuple[str, str]] = [
    ("AWS access key", "aws_access_key_id = 'AKIA" + "Z7Q4XW2M9LK3PT8R'"),
    ("AWS secret key", "aws_secret_access_key=" + "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY"),
    ("GitHub token", "git clone https://x-access:ghp_" + A + "abcde@github.com/org/repo"),
    ("GitHub token", "GITHUB_TOKEN=github_pat_11ABCDEFG0" + A + "_" + A + "xyz"),
    ("GitLab token", "headers = {'PRIVATE-TOKEN': 'glpat-" + A[:20] + "'}"),
    ("Slack token", "client = WebClient(token='xoxb-" + "123456789012-1234567890123-" + A[:24] + "')"),
    ("Slack webhook", "requests.post('https://hooks.slack.com/services/T0AB12CD3/B0EF45GH6/" + A[:24] + "')"),
    ("Discord webhook", "url = 'https://discord.com/api/webhooks/123456789012345678/" + A + A + "'"),
    ("Anthropic key", "client = anthropic.Anthropic(api_key='sk-ant-api03-" + A + A + A + "AA')"),
    ("OpenAI key", "openai.api_key = 'sk-proj-" + A + "T3BlbkFJ" + A[:20] + "'"),
    ("Google API key", "gmaps = googlemaps.Client(key='AIza" + "SyD3" + A + "')"),
    ("Google OAuth token", "Authorization header was ya29.a0AfH6SM" + A + A[:10]),
    ("Google OAuth client secret", "client_secret = 'GOCSPX-" + A[:28] + "'"),
    ("Hugging Face token", "login(token='hf_" + A + "abc')"),
    ("Groq key", "Groq(api_key='gsk_" + A + "Wq" + A[:15] + "')"),
    ("Stripe key", "stripe.api_key = 'sk_live_" + "51H" + A[:24] + "'"),
    ("SendGrid key", "SendGridAPIClient('SG." + A[:22] + "." + A + A[:12] + "')"),
    ("Twilio key", "Client('SK" + HEX + "', secret)"),
    ("Mailgun key", "auth=('api', 'key-" + HEX + "')"),
    ("npm token", "//registry.npmjs.org/:_authToken=npm_" + A + "wxyzA"),
    ("PyPI token", "password = pypi-AgEIcHlwaS5vcmc" + A + A),
    ("DigitalOcean token", "DO_TOKEN = 'dop_v1_" + HEX + HEX + "'"),
    ("Databricks token", "DATABRICKS_TOKEN=dapi" + HEX),
    ("Telegram bot token", "bot = telebot.TeleBot('1234567890:AA" + A + "XY')"),
    (
        "JSON web token",
        "jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'",
    ),
    (
        "private key",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA" + B64 + "\n" + B64 + "\n-----END RSA PRIVATE KEY-----",
    ),
    (
        "private key",
        'key = "-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAA'
        + B64
        + '\\n-----END OPENSSH PRIVATE KEY-----"',
    ),
    ("password in URL", "engine = create_engine('postgresql://admin:S3cr3tPa55w0rd@db.internal:5432/prod')"),
    ("password", "conn = psycopg2.connect(host='db', user='ana', password='correct-horse-battery')"),
    ("password", "Server=tcp:db.example.net,1433;Database=prod;User ID=app;Password=Tr0ub4dor&3x;Encrypt=True"),
    ("secret value", 'API_SECRET = "' + A[:12] + "4f9d8e7c6b5a" + '"'),
    ("bearer token", "headers = {'Authorization': 'Bearer " + A + A[:9] + "'}"),
    ("basic auth", "Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l"),
    (
        "Azure storage key",
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + B64 + "abcd==;EndpointSuffix=core",
    ),
]

# Where the secret is in each text of SECRETS (start, end): what must never leave Fixtrail.
SECRET_SPANS: list[tuple[int, int]] = [
    (21, 41),
    (22, 62),
    (27, 67),
    (13, 100),
    (29, 55),
    (26, 82),
    (15, 92),
    (7, 121),
    (38, 146),
    (18, 85),
    (31, 70),
    (25, 79),
    (17, 52),
    (13, 50),
    (14, 66),
    (18, 53),
    (19, 88),
    (8, 42),
    (14, 50),
    (33, 73),
    (11, 93),
    (12, 83),
    (17, 53),
    (23, 69),
    (7, 99),
    (0, 237),
    (7, 182),
    (43, 57),
    (57, 78),
    (66, 78),
    (14, 38),
    (36, 76),
    (21, 45),
    (59, 144),
]


def needles() -> list[str]:
    """The secret part of each planted text."""
    return [text[start:end] for (_, text), (start, end) in zip(SECRETS, SECRET_SPANS, strict=True)]


NEAR_MISSES: list[str] = [
    "aws_access_key_id = os.environ['AWS_ACCESS_KEY_ID']",
    "AKIA is the prefix of an AWS access key id",
    "password = os.environ['DB_PASSWORD']",
    "password = getpass.getpass()",
    "password = None",
    "conn = connect(password=password)",
    "DATABASE_URL = 'postgresql://localhost:5432/prod'",
    "see https://user@example.com/docs and http://example.com:8080/path",
    "token = get_token()",
    "max_tokens = 4096",
    "tokenizer = AutoTokenizer.from_pretrained('bert-base-uncased')",
    "api_key = 'YOUR_API_KEY_HERE'",
    "secret_sauce_recipe = 'tomato-basil-garlic'",
    "KeyError: 'token'",
    "ValueError: password authentication failed for user 'postgres'",
    "pip install scikit-learn  # sk-learn is not a package",
    "import sklearn; model = sk_model_from_config(cfg)",
    "session_id = '550e8400-e29b-41d4-a716-446655440000'",
    "commit d6cd1e2bd19e03a81132a23b2025920577f84e37 fixed it",
    "sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE-----",
    "headers = {'Authorization': f'Bearer {token}'}",
    "header = 'Authorization: Bearer ' + access_token",
    "eyJhbGciOi is how a JWT header starts",
    "ghp_ is GitHub's prefix for personal tokens",
    "with open('/home/ana/.ssh/id_rsa') as key_file:",
    "password = '****'",
    "password = '<your password>'",
    "xoxb- tokens are Slack bot tokens",
]

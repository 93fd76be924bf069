"""A REST service behind MCP tools: GET /items?q=<prefix> answers the items whose name
starts with it ({"count", "items"}); POST /items with a JSON body {"name", "price"} answers
201 {"id": "item-<name>", "received": <body>}, without a name 400 {"error"}; GET
/weather?city=<city> answers 200 "sunny in <city>" as text, for "Atlantis" 404. Prints its
port, then serves; each request's method and path go to stderr."""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qs, urlparse

ITEMS = [{"name": "apple", "price": 3}, {"name": "apricot", "price": 5}, {"name": "banana", "price": 2}]


class Catalogue(BaseHTTPRequestHandler):
    def answer(self, code, value):
        body = json.dumps(value).encode()
        self.send_response(code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/weather":
            city = parse_qs(url.query).get("city", [""])[0]
            body = ("sunny in " + city).encode()
            self.send_response(404 if city == "Atlantis" else 200)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if url.path != "/items":
            return self.answer(404, {"error": "no such path " + url.path})
        prefix = parse_qs(url.query).get("q", [""])[0]
        found = [item for item in ITEMS if item["name"].startswith(prefix)]
        self.answer(200, {"count": len(found), "items": found})

    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        if "name" not in body:
            return self.answer(400, {"error": "name is required"})
        self.answer(201, {"id": "item-" + body["name"], "received": body})

    def log_message(self, *args):
        sys.stderr.write("catalogue: %s %s\n" % (self.command, self.path))


server = HTTPServer(("127.0.0.1", 0), Catalogue)
print(server.server_address[1], flush=True)
server.serve_forever()

package envoy.authz

default allow := false

allow if input.attributes.request.http.headers["x-api-key"] == "bench-valid-key"

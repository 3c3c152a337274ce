# Policy for the OPA-Envoy contender (opa-envoy-plugin, path envoy/authz/allow): allow when the
# x-api-key header is the bench's valid key. Same rule as the stand-in's bench/opa-authz/policy.rego,
# so both OPA contenders do the same work per check.
package envoy.authz

default allow := false

allow if input.attributes.request.http.headers["x-api-key"] == "bench-valid-key"

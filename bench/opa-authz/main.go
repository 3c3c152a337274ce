// A stand-in for OPA-Envoy (opa-envoy-plugin is not served by the Go module proxy here): an
// envoy.service.auth.v3 Check server that does what the plugin does per request — CheckRequest ->
// protojson -> generic input, evaluate a prepared Rego query with OPA's own engine, map the result
// to a CheckResponse. Built by bench/run.ts into ~/.cache/mesh-apim/bin; run with GOMAXPROCS=1.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/open-policy-agent/opa/v1/rego"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
)

type server struct {
	authv3.UnimplementedAuthorizationServer
	query rego.PreparedEvalQuery
}

var marshal = protojson.MarshalOptions{UseProtoNames: true}

func (s *server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	raw, err := marshal.Marshal(req)
	if err != nil {
		return nil, err
	}
	var input map[string]any
	if err := json.Unmarshal(raw, &input); err != nil {
		return nil, err
	}
	rs, err := s.query.Eval(ctx, rego.EvalInput(input))
	allowed := err == nil && len(rs) == 1 && len(rs[0].Expressions) == 1 && rs[0].Expressions[0].Value == true
	if allowed {
		return &authv3.CheckResponse{Status: &status.Status{Code: int32(codes.OK)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}}}, nil
	}
	return &authv3.CheckResponse{Status: &status.Status{Code: int32(codes.PermissionDenied)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{}}}, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	policy := flag.String("policy", "", "Rego policy file")
	flag.Parse()
	src, err := os.ReadFile(*policy)
	if err != nil {
		panic(err)
	}
	q, err := rego.New(rego.Query("data.envoy.authz.allow"), rego.Module("policy.rego", string(src))).
		PrepareForEval(context.Background())
	if err != nil {
		panic(err)
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		panic(err)
	}
	fmt.Printf("listening %s\n", lis.Addr().String())
	g := grpc.NewServer()
	authv3.RegisterAuthorizationServer(g, &server{query: q})
	if err := g.Serve(lis); err != nil {
		panic(err)
	}
}

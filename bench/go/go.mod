module github.com/aiops-ml-sidecar/sidecar/bench/go

go 1.26.0

require (
	connectrpc.com/connect v1.21.1
	github.com/aiops-ml-sidecar/sidecar/clients/go v0.0.0
)

require (
	google.golang.org/genproto/googleapis/rpc v0.0.0-20261110000943-09e21b237f2c // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace github.com/aiops-ml-sidecar/sidecar/clients/go => ../../clients/go

//! Compiles `aggregator.proto` into prost messages and the tonic client and server. The proto
//! file is parsed by protox (a Rust protobuf compiler), so building needs no `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=aggregator.proto");
    let fds = protox::compile(["aggregator.proto"], ["."])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}

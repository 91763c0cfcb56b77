use std::process::ExitCode;

#[actix_web::main]
async fn main() -> ExitCode {
    descoberta::cli::main().await
}

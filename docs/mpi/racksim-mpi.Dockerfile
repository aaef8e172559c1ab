# racksim with MPI, for the MPIJob beside this file: built on Debian's Open MPI.
#   docker build -f docs/mpi/racksim-mpi.Dockerfile -t racksim-mpi .
FROM rust:1.95-bookworm AS build
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
        libopenmpi-dev openmpi-bin libclang-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p rack-sim --features mpi --bin racksim

FROM debian:bookworm-slim
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends \
        openmpi-bin openssh-client openssh-server && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/racksim /usr/local/bin/racksim

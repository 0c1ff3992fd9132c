# GPU image: vLLM with CUDA, serving Qwen/Qwen2.5-0.5B-Instruct (or TSD_MODEL, mounted under /models).
ARG BASE=python:3.11-slim
FROM ${BASE}
RUN useradd --create-home --uid 1000 app && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY core core
COPY service service
COPY training training
COPY clients clients
COPY loadtests loadtests
RUN pip install --no-cache-dir -e '.[gpu]'
USER app
ENV TSD_HOST=0.0.0.0 TSD_PORT=8000 TSD_PRESET=qwen2.5-0.5b HF_HOME=/models/hf
VOLUME ["/models"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=300s --retries=3 \
  CMD ["python", "-m", "service.healthcheck"]
CMD ["python", "-m", "service"]

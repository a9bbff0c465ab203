# One image for every ticketcore service; the command chooses the service:
#   docker run ticketcore serve intake
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY benchmarks ./benchmarks
RUN pip install --no-cache-dir . && useradd --create-home ticketcore
USER ticketcore
ENTRYPOINT ["ticketcore"]
CMD ["up"]

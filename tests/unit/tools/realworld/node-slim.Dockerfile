FROM node:20-bookworm-slim
WORKDIR /srv
COPY package.json server.js ./
RUN npm install --omit=dev
EXPOSE 3000
CMD ["node", "server.js"]

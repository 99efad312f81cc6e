FROM eclipse-temurin:21-jre
COPY app.jar /opt/app.jar
EXPOSE 8080
CMD ["java", "-jar", "/opt/app.jar"]

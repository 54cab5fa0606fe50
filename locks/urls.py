from django.urls import path

app_name = "locks"
urlpatterns: list = []

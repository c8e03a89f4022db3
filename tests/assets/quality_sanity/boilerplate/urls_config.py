from django.contrib import admin
from django.urls import include, path

from shop.catalog import views as catalog_views
from shop.orders import views as order_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", catalog_views.index, name="index"),
    path("products/", catalog_views.product_list, name="product-list"),
    path("products/<int:pk>/", catalog_views.product_detail, name="product-detail"),
    path("cart/", order_views.cart, name="cart"),
    path("cart/add/<int:pk>/", order_views.cart_add, name="cart-add"),
    path("cart/remove/<int:pk>/", order_views.cart_remove, name="cart-remove"),
    path("checkout/", order_views.checkout, name="checkout"),
    path("orders/", order_views.order_list, name="order-list"),
    path("orders/<int:pk>/", order_views.order_detail, name="order-detail"),
    path("api/", include("shop.api.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
]

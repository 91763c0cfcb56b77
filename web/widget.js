// placeholder: the widget is written in web/widget.js
export {};
